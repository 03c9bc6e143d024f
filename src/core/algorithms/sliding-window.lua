-- Twin of sliding-window.ts: the same inputs, the same floating-point operations in the same order,
-- the same outputs. State: a Redis list of the admission times still inside the window, oldest first
-- (a call of cost n adds n entries, each struct.pack('<d', ms), an exact double). Helpers
-- (extra_ttl_ms, px_of) come from the generated script.

-- Returns allowed, retryAfterMs, remaining, resetAfterMs, ttlMs, and, when allowed, the number of
-- expired entries at the head of the list (what sliding_window_commit removes).
-- The length of the list and the number of expired entries at its head.
local function sliding_window_scan(key, now_ms, period_ms)
  -- An entry admitted at t occupies the half-open interval [t, t + periodMs).
  local oldest_live_ms = now_ms - period_ms
  local length = redis.call('LLEN', key)
  local first_live = 0
  -- Read the head in small batches: usually only a few entries have expired since the last call.
  while first_live < length do
    local batch = redis.call('LRANGE', key, first_live, first_live + 15)
    local index = 1
    while index <= #batch and struct.unpack('<d', batch[index]) <= oldest_live_ms do index = index + 1 end
    first_live = first_live + index - 1
    if index <= #batch then break end
  end
  return length, first_live
end

local function sliding_window(key, now_ms, limit, period_ms, cost)
  local length, first_live = sliding_window_scan(key, now_ms, period_ms)
  local live = length - first_live

  if live + cost <= limit then
    local next_length = live + cost
    local reset_after_ms = 0
    if cost > 0 then
      reset_after_ms = now_ms + period_ms - now_ms
    elseif next_length > 0 then
      reset_after_ms = struct.unpack('<d', redis.call('LINDEX', key, -1)) + period_ms - now_ms
    end
    return true, 0, limit - next_length, reset_after_ms, reset_after_ms, first_live
  end

  local reset_after_ms = 0
  if live > 0 then reset_after_ms = struct.unpack('<d', redis.call('LINDEX', key, -1)) + period_ms - now_ms end
  -- Enough of the oldest entries must leave the window to make room for `cost` units.
  local must_expire = live + cost - limit
  local retry_after_ms
  if cost > limit then
    retry_after_ms = period_ms
  else
    retry_after_ms = struct.unpack('<d', redis.call('LINDEX', key, first_live + must_expire - 1)) + period_ms - now_ms
  end
  return false, retry_after_ms, limit - live, reset_after_ms, reset_after_ms, nil
end

-- Drop the expired head, append `cost` entries at now_ms, and keep the list for ttl_ms.
local function sliding_window_commit(key, now_ms, cost, ttl_ms, first_live)
  commit_times(key, first_live, now_ms, cost, ttl_ms)
end

-- Refund (twin of the TypeScript refund): up to `cost` entries stamped with the refunded call's
-- admission time leave, while they are in the window. The list keeps its TTL, which outlives every
-- entry left (see commit_times); Redis deletes a list left empty.
local function sliding_window_refund(key, now_ms, limit, period_ms, cost, admitted_at_ms)
  -- Only the refunded call's own entries (stamped with its admission time) go, and none once they
  -- have left the window: the units of other calls are never handed out again.
  if cost <= 0 or admitted_at_ms <= now_ms - period_ms then return end
  -- LREM's count is a whole number (0 would mean every occurrence).
  redis.call('LREM', key, math.ceil(cost), struct.pack('<d', admitted_at_ms))
end

-- Twin of fixed-window.ts: the same inputs, the same floating-point operations in the same order,
-- the same outputs. State: struct.pack('<dd', windowStartMs, count), exact doubles. Helpers
-- (extra_ttl_ms, px_of) come from the generated script.

-- The start of the window now_ms is in: the one whose end (start + period, what a denial names)
-- has not passed; the division alone can put a time at that end in the window before.
local function window_start_of(now_ms, period_ms)
  local index = math.floor(now_ms / period_ms)
  local start_ms = index * period_ms
  if now_ms < start_ms + period_ms then return start_ms end
  return (index + 1) * period_ms
end

-- Returns allowed, retryAfterMs, remaining, resetAfterMs, ttlMs, state to store when committed, and
-- whether the stored state is of this same window (then its key already has the right TTL).
local function fixed_window(key, now_ms, limit, period_ms, cost)
  local window_start_ms = window_start_of(now_ms, period_ms)
  local count = 0
  local same_window = false
  local stored = redis.call('GET', key)
  if stored then
    local stored_start_ms, stored_count = struct.unpack('<dd', stored)
    -- A state of a later window than the clock's (the clock stepped back) is still the current one.
    window_start_ms = math.max(window_start_ms, stored_start_ms)
    if stored_start_ms == window_start_ms then
      count = stored_count
      same_window = true
    end
  end
  local reset_after_ms = window_start_ms + period_ms - now_ms

  if count + cost <= limit then
    return true, 0, limit - count - cost, reset_after_ms, reset_after_ms,
      struct.pack('<dd', window_start_ms, count + cost), same_window
  end
  -- A cost above the limit is never admitted; answer with the next bucket anyway.
  return false, reset_after_ms, limit - count, reset_after_ms, reset_after_ms, nil, same_window
end

-- Within the window it was written in, the key already expires at the window's end (the TTL the
-- first write of the window gave it): only the count changes, and SET KEEPTTL costs Redis less than
-- half of SET PX. A state whose TTL is not positive is equivalent to no state: delete it.
local function fixed_window_commit(key, now_ms, cost, ttl_ms, state, same_window)
  -- (A positive ttl_ms is a positive PX: the usual case needs no px_of.)
  if same_window and ttl_ms > 0 then
    redis.call('SET', key, state, 'KEEPTTL')
    return
  end
  store_state(key, state, ttl_ms)
end

-- Refund (twin of the TypeScript refund): the count of the stored window goes down by `cost`, not
-- below 0, only while that window is the current one (a window that has rolled over gets nothing
-- back); the key keeps its TTL (the window's end). No state: nothing to give back.
local function fixed_window_refund(key, now_ms, limit, period_ms, cost, admitted_at_ms)
  local stored = redis.call('GET', key)
  if not stored then return end
  local stored_start_ms, stored_count = struct.unpack('<dd', stored)
  local window_start_ms = window_start_of(now_ms, period_ms)
  if stored_start_ms ~= window_start_ms then return end
  -- A call of an earlier window holds nothing of this one.
  if window_start_of(admitted_at_ms, period_ms) ~= window_start_ms then return end
  redis.call('SET', key, struct.pack('<dd', stored_start_ms, math.max(0, stored_count - cost)), 'KEEPTTL')
end

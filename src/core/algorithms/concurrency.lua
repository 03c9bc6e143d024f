-- Twin of concurrency.ts: the same inputs, the same floating-point operations in the same order,
-- the same outputs. State: a Redis list of the expiry times of the leases held, soonest first (a
-- call of cost n adds n leases, each struct.pack('<d', ms), an exact double). Helpers (px_of) come
-- from the generated script.

-- The length of the list and the number of expired leases at its head.
local function concurrency_scan(key, now_ms)
  local length = redis.call('LLEN', key)
  local first_live = 0
  -- Read the head in small batches: usually only a few leases have expired since the last call.
  while first_live < length do
    local batch = redis.call('LRANGE', key, first_live, first_live + 15)
    local index = 1
    while index <= #batch and struct.unpack('<d', batch[index]) <= now_ms do index = index + 1 end
    first_live = first_live + index - 1
    if index <= #batch then break end
  end
  return length, first_live
end

-- Returns allowed, retryAfterMs, remaining, resetAfterMs, ttlMs, and, when allowed, the expiry of
-- the new leases and the number of expired leases at the head of the list (what the commit drops).
local function concurrency(key, now_ms, limit, lease_ms, cost)
  local length, first_live = concurrency_scan(key, now_ms)
  local live = length - first_live

  if live + cost <= limit then
    local next_length = live + cost
    local expires_at_ms = now_ms + lease_ms
    local reset_after_ms = 0
    if cost > 0 then
      reset_after_ms = expires_at_ms - now_ms
    elseif next_length > 0 then
      reset_after_ms = struct.unpack('<d', redis.call('LINDEX', key, -1)) - now_ms
    end
    return true, 0, limit - next_length, reset_after_ms, reset_after_ms, expires_at_ms, first_live
  end

  local reset_after_ms = 0
  if live > 0 then reset_after_ms = struct.unpack('<d', redis.call('LINDEX', key, -1)) - now_ms end
  -- Enough of the soonest leases must expire to make room for `cost` slots.
  local must_expire = live + cost - limit
  local retry_after_ms
  if cost > limit then
    retry_after_ms = lease_ms
  else
    retry_after_ms = struct.unpack('<d', redis.call('LINDEX', key, first_live + must_expire - 1)) - now_ms
  end
  return false, retry_after_ms, limit - live, reset_after_ms, reset_after_ms, nil, nil
end

-- Drop the expired head, append `cost` leases expiring at expires_at_ms, keep the list for ttl_ms.
local function concurrency_commit(key, now_ms, cost, ttl_ms, expires_at_ms, first_live)
  commit_times(key, first_live, expires_at_ms, cost, ttl_ms)
end

-- Release (twin of releaseConcurrency): up to `cost` leases of the call admitted at admitted_at_ms
-- (those expiring at admitted_at_ms + lease_ms) go, while they are live. The list keeps its TTL,
-- which outlives every lease left (see commit_times); Redis deletes a list left empty.
local function concurrency_refund(key, now_ms, limit, lease_ms, cost, admitted_at_ms)
  local expires_at_ms = admitted_at_ms + lease_ms
  if cost <= 0 or expires_at_ms <= now_ms then return end
  -- LREM's count is a whole number (0 would mean every occurrence).
  redis.call('LREM', key, math.ceil(cost), struct.pack('<d', expires_at_ms))
end

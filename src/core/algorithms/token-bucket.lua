-- Twin of token-bucket.ts: the same inputs, the same floating-point operations in the same order,
-- the same outputs. State: struct.pack('<dd', tokens, updatedAtMs), exact doubles. Helpers
-- (EPSILON_MS) come from the generated script.

-- Returns allowed, retryAfterMs, remaining, resetAfterMs, ttlMs, state to store when committed.
local function token_bucket(key, now_ms, capacity, refill_per_second, cost)
  local tokens = capacity
  local stored = redis.call('GET', key)
  if stored then
    local stored_tokens, updated_at_ms = struct.unpack('<dd', stored)
    -- A state stamped up to 1 µs ahead (a call admitted early) owes that refill.
    local elapsed_ms = math.max(-EPSILON_MS, now_ms - updated_at_ms)
    tokens = math.min(capacity, stored_tokens + (elapsed_ms * refill_per_second) / 1000)
  end

  -- The tokens 1 µs of refill brings: the slack of EPSILON_MS expressed in tokens.
  local slack = (EPSILON_MS * refill_per_second) / 1000
  if tokens + slack >= cost then
    -- Admitted up to 1 µs early (the slack): the state is stamped when the refill has brought the
    -- rest (ahead of now), so the next call owes it.
    local ahead_ms, left = 0, tokens - cost
    if tokens < cost then ahead_ms, left = ((cost - tokens) * 1000) / refill_per_second, 0 end
    local reset_after_ms = ahead_ms + ((capacity - left) * 1000) / refill_per_second
    return true, 0, math.max(0, math.floor(tokens - cost + slack)), reset_after_ms,
      math.ceil(reset_after_ms), struct.pack('<dd', left, now_ms + ahead_ms)
  end

  local reset_after_ms = ((capacity - tokens) * 1000) / refill_per_second
  -- A cost above the capacity is never admitted; answer with the time to fill the whole bucket.
  local missing
  if cost > capacity then missing = capacity else missing = cost - tokens end
  return false, (missing * 1000) / refill_per_second, math.max(0, math.floor(tokens + slack)), reset_after_ms,
    math.ceil(reset_after_ms), nil
end

-- Store the state the step returned (the commit shared by every limit of an admitted call).
local function token_bucket_commit(key, now_ms, cost, ttl_ms, state)
  store_state(key, state, ttl_ms)
end

-- Refund (twin of the TypeScript refund): refill to now, then `cost` tokens back, capped at the
-- capacity; kept for the time to fill up from there. No state: the bucket is already full.
local function token_bucket_refund(key, now_ms, capacity, refill_per_second, cost, admitted_at_ms)
  local stored = redis.call('GET', key)
  if not stored then return end
  -- What the call still holds: its cost, less what the bucket has refilled since it was admitted.
  -- Never more than the call took, also when the clock has stepped back since (elapsed < 0).
  local held = math.max(0, cost - (math.max(0, now_ms - admitted_at_ms) * refill_per_second) / 1000)
  local stored_tokens, updated_at_ms = struct.unpack('<dd', stored)
  local elapsed_ms = math.max(-EPSILON_MS, now_ms - updated_at_ms)
  local tokens = math.min(capacity, math.min(capacity, stored_tokens + (elapsed_ms * refill_per_second) / 1000) + held)
  store_state(key, struct.pack('<dd', tokens, now_ms), math.ceil(((capacity - tokens) * 1000) / refill_per_second))
end

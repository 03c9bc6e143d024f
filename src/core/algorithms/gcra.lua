-- Twin of gcra.ts: the same inputs, the same floating-point operations in the same order, the same
-- outputs. State: struct.pack('<d', theoretical arrival time in ms), an exact double. Helpers
-- (EPSILON_MS) come from the generated script.

-- Returns allowed, retryAfterMs, remaining, resetAfterMs, ttlMs, state to store when committed.
local function gcra(key, now_ms, emission_interval_ms, burst, cost)
  local tolerance = burst * emission_interval_ms
  local stored = redis.call('GET', key)
  local tat_ms = now_ms
  if stored then tat_ms = math.max(struct.unpack('<d', stored), now_ms) end
  local new_tat_ms = tat_ms + cost * emission_interval_ms
  local allow_at_ms = new_tat_ms - tolerance

  if allow_at_ms <= now_ms + EPSILON_MS then
    local reset_after_ms = new_tat_ms - now_ms
    local remaining = math.max(0, math.floor((tolerance - reset_after_ms + EPSILON_MS) / emission_interval_ms))
    return true, 0, remaining, reset_after_ms, math.ceil(reset_after_ms), struct.pack('<d', new_tat_ms)
  end

  local reset_after_ms = tat_ms - now_ms
  local retry_after_ms
  -- A cost above the burst is never admitted; answer with the time to drain the whole burst.
  if cost > burst then retry_after_ms = tolerance else retry_after_ms = allow_at_ms - now_ms end
  local remaining = math.max(0, math.floor((tolerance - reset_after_ms + EPSILON_MS) / emission_interval_ms))
  return false, retry_after_ms, remaining, reset_after_ms, math.ceil(reset_after_ms), nil
end

-- Store the state the step returned (the commit shared by every limit of an admitted call).
local function gcra_commit(key, now_ms, cost, ttl_ms, state)
  store_state(key, state, ttl_ms)
end

-- Refund (twin of the TypeScript refund): the theoretical arrival time moves back by `cost`
-- emission intervals, never before now; kept until it is reached. No state: nothing to give back.
local function gcra_refund(key, now_ms, emission_interval_ms, burst, cost, admitted_at_ms)
  local stored = redis.call('GET', key)
  if not stored then return end
  -- What the call still holds: its emission time, less the time that has passed since.
  local held_ms = math.max(0, cost * emission_interval_ms - (now_ms - admitted_at_ms))
  local tat_ms = math.max(now_ms, struct.unpack('<d', stored) - held_ms)
  store_state(key, struct.pack('<d', tat_ms), math.ceil(tat_ms - now_ms))
end

-- Twin of fixed-window.ts: the same inputs, the same floating-point operations in the same order,
-- the same outputs. State: struct.pack('<dd', windowStartMs, count), exact doubles. Helpers come
-- from the dispatcher's preamble.

-- Returns allowed, retryAfterMs, remaining, resetAfterMs, ttlMs, state to store when committed.
local function fixed_window(key, now_ms, limit, period_ms, cost)
  local window_start_ms = math.floor(now_ms / period_ms) * period_ms
  local count = 0
  local stored = redis.call('GET', key)
  if stored then
    local stored_start_ms, stored_count = struct.unpack('<dd', stored)
    if stored_start_ms == window_start_ms then count = stored_count end
  end
  local reset_after_ms = window_start_ms + period_ms - now_ms

  if count + cost <= limit then
    return true, 0, limit - count - cost, reset_after_ms, reset_after_ms,
      struct.pack('<dd', window_start_ms, count + cost)
  end
  -- A cost above the limit is never admitted; answer with the next bucket anyway.
  return false, reset_after_ms, limit - count, reset_after_ms, reset_after_ms, nil
end

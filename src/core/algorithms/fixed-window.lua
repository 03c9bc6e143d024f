-- Twin of fixed-window.ts: the same inputs, the same floating-point operations in the same order,
-- the same outputs. State: "<windowStartMs> <count>" (numbers written with %.17g, so they read back
-- exactly). Helpers (format_number) come from the dispatcher's preamble.

-- Returns allowed, retryAfterMs, remaining, resetAfterMs, ttlMs, state to store when committed.
local function fixed_window(key, now_ms, limit, period_ms, cost)
  local window_start_ms = math.floor(now_ms / period_ms) * period_ms
  local count = 0
  local stored = redis.call('GET', key)
  if stored then
    local separator = string.find(stored, ' ', 1, true)
    if tonumber(string.sub(stored, 1, separator - 1)) == window_start_ms then
      count = tonumber(string.sub(stored, separator + 1))
    end
  end
  local reset_after_ms = window_start_ms + period_ms - now_ms

  if count + cost <= limit then
    return true, 0, limit - count - cost, reset_after_ms, reset_after_ms,
      format_number(window_start_ms) .. ' ' .. format_number(count + cost)
  end
  -- A cost above the limit is never admitted; answer with the next bucket anyway.
  return false, reset_after_ms, limit - count, reset_after_ms, reset_after_ms, nil
end

-- Helpers shared by the Lua twins, put before them in every generated script (redis-script.ts),
-- after `extra_ttl_ms`, `EPSILON_MS` and `MAX_TTL_MS`. A helper comes after those it calls (Lua
-- locals must be defined before use).

-- The PX argument of a state kept for ttl_ms (the store's extra TTL added), or nil when ttl_ms is
-- not positive: such a state is equivalent to no state, and its key is deleted instead.
local function px_of(ttl_ms)
  local ttl = math.ceil(ttl_ms)
  if ttl <= 0 then return nil end
  ttl = ttl + extra_ttl_ms
  -- Redis parses a plain number argument exactly below 1e15 (it is sent as %.17g).
  if ttl < 1e15 then return ttl end
  -- A state that practically never expires (a bucket refilled once in ages) is kept MAX_TTL_MS
  -- (285,000 years): Redis takes no expiry past 2^63 ms from now, and %d of a larger double is
  -- garbage (a negative PX), which failed every call of such a limit into the outage policy.
  return string.format('%d', math.min(ttl, MAX_TTL_MS))
end
local function store_state(key, state, ttl_ms)
  local px = px_of(ttl_ms)
  if px == nil then
    redis.call('DEL', key)
  else
    redis.call('SET', key, state, 'PX', px)
  end
end

-- A list of times (a sliding window's entries, a concurrency limit's lease expiries), oldest
-- first: drop the `first_live` expired ones at its head, append `cost` copies of time_ms, and keep
-- it at least ttl_ms (twin of latestExpiresAfterMs in times.ts). Its TTL is never shortened: it
-- was set to outlive every entry it holds, and after the clock stepped back the entries appended
-- end before earlier ones, which still count (a list kept only until its new entries end lost them
-- early, and their units came back). A list whose entries have all ended expires on its own.
local function commit_times(key, first_live, time_ms, cost, ttl_ms)
  if first_live > 0 then redis.call('LTRIM', key, first_live, -1) end
  if cost > 0 then
    local time = struct.pack('<d', time_ms)
    local times = {}
    for unit = 1, math.min(cost, 1000) do times[unit] = time end
    local left = cost
    while left > 0 do
      -- Pushed in chunks: unpack() of a huge table would overflow Lua's C stack.
      if left < #times then
        for unit = left + 1, #times do times[unit] = nil end
      end
      redis.call('RPUSH', key, unpack(times))
      left = left - #times
    end
  end
  local px = px_of(ttl_ms)
  -- PTTL is -1 for the list this call created, -2 for none left.
  if px ~= nil and redis.call('PTTL', key) < px + 0 then redis.call('PEXPIRE', key, px) end
end

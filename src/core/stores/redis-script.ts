import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EPSILON_MS, type AlgorithmName } from '../algorithms/types.js';

/** The code of each algorithm in the script's arguments. */
export const ALGORITHM_CODES: Readonly<Record<AlgorithmName, string>> = {
  'fixed-window': 'f',
  'sliding-window': 's',
  'token-bucket': 't',
  gcra: 'g',
};

const LUA_FILES = ['fixed-window.lua', 'sliding-window.lua', 'token-bucket.lua', 'gcra.lua'];

// Shared by the four algorithm files, which the script includes after it. EPSILON_MS is the
// TypeScript constant itself (its decimal form reads back as the same double), so it cannot drift.
// States are stored with struct.pack (exact doubles): string.format('%.17g') costs more than the
// rest of a call.
const PREAMBLE = `
local EPSILON_MS = ${String(EPSILON_MS)}
local extra_ttl_ms = tonumber(ARGV[2])
-- A TTL as the argument Redis parses: plain numbers convert exactly below 1e15.
local function ttl_argument(ttl)
  if ttl < 1e15 then return ttl end
  return string.format('%d', ttl)
end
-- A state whose TTL is not positive is equivalent to no state: delete it.
local function expire_key(key, ttl_ms)
  local ttl = math.ceil(ttl_ms)
  if ttl > 0 then
    redis.call('PEXPIRE', key, ttl_argument(ttl + extra_ttl_ms))
  else
    redis.call('DEL', key)
  end
end
local function store_state(key, state, ttl_ms)
  local ttl = math.ceil(ttl_ms)
  if ttl > 0 then
    redis.call('SET', key, state, 'PX', ttl_argument(ttl + extra_ttl_ms))
  else
    redis.call('DEL', key)
  end
end
`;

// KEYS: one per limit. ARGV: nowMs ('' = Redis TIME), extraTtlMs, then per limit: algorithm code,
// two parameters, cost. Every limit is checked first; the states are written only when all allow.
// Reply: per limit 7 integers: allowed (1/0), then retryAfterMs, remaining and resetAfterMs each as
// math.frexp's mantissa (scaled to a 53-bit integer) and exponent. Integers cross the protocol
// exactly, and cost far less than formatting the doubles as text. Redis runs this body on every
// call, so it is kept to the few instructions a call needs.
const DISPATCHER = `
local now_ms
if ARGV[1] == '' then
  local time = redis.call('TIME')
  now_ms = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
else
  now_ms = tonumber(ARGV[1])
end
local algorithms = { f = fixed_window, s = sliding_window, t = token_bucket, g = gcra }
local frexp = math.frexp
local SCALE = 9007199254740992

if #KEYS == 1 then
  local code, cost = ARGV[3], tonumber(ARGV[6])
  local allowed, retry_after_ms, remaining, reset_after_ms, ttl_ms, state =
    algorithms[code](KEYS[1], now_ms, tonumber(ARGV[4]), tonumber(ARGV[5]), cost)
  local verdict = 0
  if allowed then
    verdict = 1
    if code == 's' then sliding_window_commit(KEYS[1], now_ms, cost, ttl_ms, state)
    else store_state(KEYS[1], state, ttl_ms) end
  end
  local retry_mantissa, retry_exponent = frexp(retry_after_ms)
  local remaining_mantissa, remaining_exponent = frexp(remaining)
  local reset_mantissa, reset_exponent = frexp(reset_after_ms)
  return { verdict, retry_mantissa * SCALE, retry_exponent, remaining_mantissa * SCALE,
    remaining_exponent, reset_mantissa * SCALE, reset_exponent }
end

local reply, costs, ttls, states = {}, {}, {}, {}
local all_allowed = true
for index = 1, #KEYS do
  local at = 2 + (index - 1) * 4
  local cost = tonumber(ARGV[at + 4])
  local allowed, retry_after_ms, remaining, reset_after_ms, ttl_ms, state =
    algorithms[ARGV[at + 1]](KEYS[index], now_ms, tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3]), cost)
  local out = (index - 1) * 7
  if allowed then reply[out + 1] = 1 else reply[out + 1] = 0; all_allowed = false end
  local mantissa, exponent = frexp(retry_after_ms)
  reply[out + 2], reply[out + 3] = mantissa * SCALE, exponent
  mantissa, exponent = frexp(remaining)
  reply[out + 4], reply[out + 5] = mantissa * SCALE, exponent
  mantissa, exponent = frexp(reset_after_ms)
  reply[out + 6], reply[out + 7] = mantissa * SCALE, exponent
  costs[index], ttls[index], states[index] = cost, ttl_ms, state
end
if all_allowed then
  for index = 1, #KEYS do
    if ARGV[2 + (index - 1) * 4 + 1] == 's' then
      sliding_window_commit(KEYS[index], now_ms, costs[index], ttls[index], states[index])
    else
      store_state(KEYS[index], states[index], ttls[index])
    end
  end
end
return reply
`;

/** The whole script and its SHA1 (the EVALSHA handle). */
export interface RedisScript {
  readonly source: string;
  readonly sha1: string;
}

let cached: RedisScript | undefined;

/**
 * The script of the Redis store: the four Lua twins, read from beside the algorithms (src in tests,
 * dist/esm or dist/cjs once built), and the dispatcher. Built once per process.
 */
export function redisScript(): RedisScript {
  if (cached !== undefined) return cached;
  const directory = algorithmsDirectory();
  const source = [
    PREAMBLE,
    ...LUA_FILES.map((file) => readFileSync(join(directory, file), 'utf8')),
    DISPATCHER,
  ].join('\n');
  cached = { source, sha1: createHash('sha1').update(source).digest('hex') };
  return cached;
}

/** Where the .lua files are: `../algorithms` relative to this module's own file. */
function algorithmsDirectory(): string {
  const candidates: string[] = [];
  // CommonJS defines __dirname; ES modules do not (and `import.meta` cannot be written in a file
  // that is also compiled to CommonJS), so they find their own file from a stack frame.
  if (typeof __dirname === 'string') candidates.push(join(__dirname, '..', 'algorithms'));
  const ownFile = thisModuleFile();
  if (ownFile !== undefined) candidates.push(join(dirname(ownFile), '..', 'algorithms'));
  for (const candidate of candidates) {
    if (existsSync(join(candidate, LUA_FILES[0]))) return candidate;
  }
  throw new Error(
    `RedisStore: cannot find its Lua scripts (${LUA_FILES.join(', ')}); looked in ${candidates.join(', ') || 'no directory'}`,
  );
}

/** The file of this module, from the raw V8 call site of this very function. */
function thisModuleFile(): string | undefined {
  const original = Error.prepareStackTrace;
  try {
    // Raw call sites name the file actually loaded, even when source maps rewrite stack strings.
    Error.prepareStackTrace = (_error, callSites) => callSites;
    const callSites = new Error().stack as unknown as NodeJS.CallSite[] | undefined;
    const fileName = callSites?.[0]?.getFileName();
    if (fileName === undefined || fileName === null) return undefined;
    return fileName.startsWith('file:') ? fileURLToPath(fileName) : fileName;
  } catch {
    return undefined;
  } finally {
    Error.prepareStackTrace = original;
  }
}

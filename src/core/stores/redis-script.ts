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
const PREAMBLE = `
local EPSILON_MS = ${String(EPSILON_MS)}
local extra_ttl_ms = tonumber(ARGV[2])
-- 17 significant digits read back as the same double; tostring() keeps only 14.
local function format_number(value) return string.format('%.17g', value) end
-- A state whose TTL is not positive is equivalent to no state: delete it.
local function expire_key(key, ttl_ms)
  local ttl = math.ceil(ttl_ms)
  if ttl > 0 then
    redis.call('PEXPIRE', key, string.format('%d', ttl + extra_ttl_ms))
  else
    redis.call('DEL', key)
  end
end
local function store_state(key, state, ttl_ms)
  local ttl = math.ceil(ttl_ms)
  if ttl > 0 then
    redis.call('SET', key, state, 'PX', string.format('%d', ttl + extra_ttl_ms))
  else
    redis.call('DEL', key)
  end
end
`;

// KEYS: one per limit. ARGV: nowMs ('' = Redis TIME), extraTtlMs, then per limit: algorithm code,
// two parameters, cost. Reply: per limit allowed (1/0), retryAfterMs, remaining, resetAfterMs.
// Every limit is checked first; the states are written only when all of them allow.
const DISPATCHER = `
local now_ms
if ARGV[1] == '' then
  local time = redis.call('TIME')
  now_ms = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
else
  now_ms = tonumber(ARGV[1])
end
local checks = { f = fixed_window, s = sliding_window, t = token_bucket, g = gcra }
local reply, states, ttls, costs = {}, {}, {}, {}
local all_allowed = true
for index = 1, #KEYS do
  local at = 2 + (index - 1) * 4
  local cost = tonumber(ARGV[at + 4])
  local allowed, retry_after_ms, remaining, reset_after_ms, ttl_ms, state =
    checks[ARGV[at + 1]](KEYS[index], now_ms, tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3]), cost)
  if not allowed then all_allowed = false end
  local out = (index - 1) * 4
  if allowed then reply[out + 1] = 1 else reply[out + 1] = 0 end
  reply[out + 2] = format_number(retry_after_ms)
  reply[out + 3] = format_number(remaining)
  reply[out + 4] = format_number(reset_after_ms)
  states[index], ttls[index], costs[index] = state, ttl_ms, cost
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

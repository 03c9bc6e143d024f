import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EPSILON_MS, type AlgorithmName } from '../algorithms/types.js';

/** The code of each algorithm in a script's name (its combination of algorithms). */
export const ALGORITHM_CODES: Readonly<Record<AlgorithmName, string>> = {
  'fixed-window': 'f',
  'sliding-window': 's',
  'token-bucket': 't',
  gcra: 'g',
};

type AlgorithmCode = 'f' | 's' | 't' | 'g';

/** The Lua twin of each algorithm, in the order the script defines them. */
const TWIN_FILES: Readonly<Record<AlgorithmCode, string>> = {
  f: 'fixed-window.lua',
  s: 'sliding-window.lua',
  t: 'token-bucket.lua',
  g: 'gcra.lua',
};

// Helpers shared by the Lua twins. EPSILON_MS is the TypeScript constant itself (its decimal form
// reads back as the same double), so it cannot drift. A helper comes after those it calls (Lua
// locals must be defined before use).
const HELPERS = `local EPSILON_MS = ${String(EPSILON_MS)}
-- The PX argument of a state kept for ttl_ms (the store's extra TTL added), or nil when ttl_ms is
-- not positive: such a state is equivalent to no state, and its key is deleted instead.
local function px_of(ttl_ms)
  local ttl = math.ceil(ttl_ms)
  if ttl <= 0 then return nil end
  ttl = ttl + extra_ttl_ms
  -- Redis parses a plain number argument exactly below 1e15 (it is sent as %.17g).
  if ttl >= 1e15 then return string.format('%d', ttl) end
  return ttl
end
local function store_state(key, state, ttl_ms)
  local px = px_of(ttl_ms)
  if px == nil then
    redis.call('DEL', key)
  else
    redis.call('SET', key, state, 'PX', px)
  end
end`;

// The calls of one script call, one after the other. A call that fails (a key holding something
// else than our state, a Redis error) is caught on its own: the others of the batch still get
// their answer.
const DISPATCH = `local STEPS = { f = fixed_window, s = sliding_window, t = token_bucket, g = gcra }
local REFUNDS = { f = fixed_window_refund, s = sliding_window_refund, t = token_bucket_refund, g = gcra_refund }

local function commit(code, key, now_ms, cost, ttl_ms, state, detail)
  if code == 'f' then
    fixed_window_commit(key, state, ttl_ms, detail)
  elseif code == 's' then
    sliding_window_commit(key, now_ms, cost, ttl_ms, state)
  else
    store_state(key, state, ttl_ms)
  end
end

-- op 'e': check every limit, commit all when all allow (else none); 'p': check only; 'r': refund;
-- 'd': delete the keys (reset). The call's limits are ARGV[at], ARGV[at + 4]... (code, first,
-- second, cost), its keys KEYS[key_at...].
local function run_call(op, count, at, key_at, now_ms)
  if op == 'd' then
    for index = 0, count - 1 do redis.call('DEL', KEYS[key_at + index]) end
    return ''
  end
  if op == 'r' then
    for index = 0, count - 1 do
      local a = at + 4 * index
      REFUNDS[ARGV[a]](KEYS[key_at + index], now_ms, ARGV[a + 1] + 0, ARGV[a + 2] + 0, ARGV[a + 3] + 0)
    end
    return ''
  end
  if count == 1 then
    -- The usual call, one limit: no tables.
    local code, key, cost = ARGV[at], KEYS[key_at], ARGV[at + 3] + 0
    local allowed, retry_after_ms, remaining, reset_after_ms, ttl_ms, state, detail =
      STEPS[code](key, now_ms, ARGV[at + 1] + 0, ARGV[at + 2] + 0, cost)
    if op == 'e' and allowed then commit(code, key, now_ms, cost, ttl_ms, state, detail) end
    return struct.pack('<dddd', allowed and 1 or 0, retry_after_ms, remaining, reset_after_ms)
  end
  local steps, all_allowed = {}, true
  for index = 0, count - 1 do
    local a = at + 4 * index
    local step = { STEPS[ARGV[a]](KEYS[key_at + index], now_ms, ARGV[a + 1] + 0, ARGV[a + 2] + 0, ARGV[a + 3] + 0) }
    steps[index + 1] = step
    if not step[1] then all_allowed = false end
  end
  if op == 'e' and all_allowed then
    for index = 0, count - 1 do
      local a = at + 4 * index
      local step = steps[index + 1]
      commit(ARGV[a], KEYS[key_at + index], now_ms, ARGV[a + 3] + 0, step[5], step[6], step[7])
    end
  end
  local parts = {}
  for index = 1, count do
    local step = steps[index]
    parts[index] = struct.pack('<dddd', step[1] and 1 or 0, step[2], step[3], step[4])
  end
  return table.concat(parts)
end

local replies, reply = {}, { '' }
local at, key_at, call = FIRST_ARGUMENT, 1, 0
while at <= #ARGV do
  call = call + 1
  local op, count = ARGV[at], ARGV[at + 1] + 0
  local ok, result = pcall(run_call, op, count, at + 2, key_at, now_ms)
  if ok then
    replies[call] = result
  else
    replies[call] = ''
    if type(result) == 'table' then result = result.err end
    reply[#reply + 1] = call
    reply[#reply + 1] = tostring(result)
  end
  if op == 'd' then at = at + 2 else at = at + 2 + 4 * count end
  key_at = key_at + count
end
reply[1] = table.concat(replies)
return reply`;

/** One generated script and its SHA1 (the EVALSHA handle). */
export interface RedisScript {
  readonly source: string;
  readonly sha1: string;
}

const scripts = new Map<string, RedisScript>();
const scriptsBySha1 = new Map<string, RedisScript>();
const twinSources = new Map<AlgorithmCode, string>();

/** Read the four Lua twins now (once per process), so that a missing file fails at construction. */
export function loadLuaTwins(): void {
  for (const code of Object.keys(TWIN_FILES) as AlgorithmCode[]) twinSource(code);
}

/** A script generated by this process, by its SHA1 (for EVAL when Redis answers NOSCRIPT). */
export function scriptBySha1(sha1: string): RedisScript | undefined {
  return scriptsBySha1.get(sha1);
}

/**
 * The one script of the store: it decides a batch of calls, one after the other, each atomically
 * and all-or-nothing, with one reading of the clock for the batch. Generated once per process;
 * Redis caches it by its SHA1.
 *
 * KEYS: every limit's key, call after call. ARGV: the time in ms when `givenTime` (tests; otherwise
 * Redis `TIME`), then per call its operation (`e` evaluate, `p` peek, `r` refund, `d` delete), its
 * number of limits (keys), and per limit (except for `d`) its algorithm code, two parameters and cost. The script touches no key but
 * those in KEYS.
 *
 * Reply: an array. Its first element is one binary string: per limit of every evaluated or peeked
 * call, four little-endian doubles (allowed 1 or 0, retryAfterMs, remaining, resetAfterMs); a
 * refund, or a call that failed, adds nothing. Then, per failed call, its position (from 1) and the
 * error. Doubles cross the protocol exactly, and packing them costs Redis far less than a table of
 * numbers or text.
 *
 * @param extraTtlMs added to every TTL (see `RedisStoreOptions.extraTtlMs`).
 */
export function redisScript(givenTime: boolean, extraTtlMs: number): RedisScript {
  const name = `${givenTime ? 'given' : 'server'}:${extraTtlMs}`;
  let script = scripts.get(name);
  if (script === undefined) {
    const source = generate(givenTime, extraTtlMs);
    script = { source, sha1: createHash('sha1').update(source).digest('hex') };
    scripts.set(name, script);
    scriptsBySha1.set(script.sha1, script);
  }
  return script;
}

function generate(givenTime: boolean, extraTtlMs: number): string {
  const lines = [`local extra_ttl_ms = ${String(extraTtlMs)}`, HELPERS];
  for (const code of Object.keys(TWIN_FILES) as AlgorithmCode[]) lines.push(twinSource(code));
  // Numbers from strings: arithmetic converts a numeric string exactly as tonumber() does, but
  // parses it once (Lua 5.1's tonumber parses twice).
  if (givenTime) {
    lines.push('local now_ms = ARGV[1] + 0');
  } else {
    lines.push("local time = redis.call('TIME')", 'local now_ms = time[1] * 1000 + time[2] / 1000');
  }
  lines.push(DISPATCH.replace('FIRST_ARGUMENT', givenTime ? '2' : '1'));
  return lines.join('\n');
}

function twinSource(code: AlgorithmCode): string {
  let source = twinSources.get(code);
  if (source === undefined) {
    source = readFileSync(join(algorithmsDirectory(), TWIN_FILES[code]), 'utf8');
    twinSources.set(code, source);
  }
  return source;
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
    if (existsSync(join(candidate, TWIN_FILES.f))) return candidate;
  }
  const files = Object.values(TWIN_FILES);
  throw new Error(
    `RedisStore: cannot find its Lua scripts (${files.join(', ')}); looked in ${candidates.join(', ') || 'no directory'}`,
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

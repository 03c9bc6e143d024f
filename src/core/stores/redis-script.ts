import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EPSILON_MS, MAX_TTL_MS, type AlgorithmName } from '../algorithms/types.js';
import { buildFile } from '../build-file.js';

/** The code of each algorithm in a script's name (its combination of algorithms). */
export const ALGORITHM_CODES: Readonly<Record<AlgorithmName, string>> = {
  'fixed-window': 'f',
  'sliding-window': 's',
  'token-bucket': 't',
  gcra: 'g',
  concurrency: 'c',
};

type AlgorithmCode = 'f' | 's' | 't' | 'g' | 'c';

/** The Lua twin of each algorithm, in the order the script defines them. */
const TWIN_FILES: Readonly<Record<AlgorithmCode, string>> = {
  f: 'fixed-window.lua',
  s: 'sliding-window.lua',
  t: 'token-bucket.lua',
  g: 'gcra.lua',
  c: 'concurrency.lua',
};

/** The name of each twin's step function; `<name>_commit` and `<name>_refund` go with it. */
const TWIN_FUNCTIONS: Readonly<Record<AlgorithmCode, string>> = {
  f: 'fixed_window',
  s: 'sliding_window',
  t: 'token_bucket',
  g: 'gcra',
  c: 'concurrency',
};

/** The bit of each algorithm in a combination (see `algorithmBit`). */
const ALGORITHM_BITS: Readonly<Record<AlgorithmCode, number>> = { f: 1, s: 2, t: 4, g: 8, c: 16 };

/** The bit of an algorithm code in a combination of algorithms (`redisScript`'s `algorithms`). */
export function algorithmBit(code: string): number {
  return ALGORITHM_BITS[code as AlgorithmCode];
}

// EPSILON_MS and MAX_TTL_MS are the TypeScript constants themselves (a decimal form reads back as
// the same double), so the twins cannot drift from them; their shared helpers: helpers.lua.
const CONSTANTS = `local EPSILON_MS, MAX_TTL_MS = ${String(EPSILON_MS)}, ${String(MAX_TTL_MS)}`;

// The calls of one script call, one after the other. A call that fails (a key holding something
// else than our state, a write Redis refuses) is caught on its own: the others of the batch still
// get their answer (redis-reply.ts tells a broken key from a refusal of every write).
const DISPATCH = `-- The batch's distinct limits, at the end of ARGV: per limit its algorithm code and two parameters,
-- then their number. A call names its limits by position in this table, so the parameters cross
-- the protocol, and are parsed, once per batch instead of once per call.
local limit_count = ARGV[#ARGV] + 0
local table_at = #ARGV - 3 * limit_count
local CODES, FIRSTS, SECONDS = {}, {}, {}
for ref = 1, limit_count do
  local a = table_at + 3 * ref - 3
  CODES[ref], FIRSTS[ref], SECONDS[ref] = ARGV[a], ARGV[a + 1] + 0, ARGV[a + 2] + 0
end

-- Every call of the batch in one string, one descriptor after the other: its operation, its number
-- of keys, then (except for 'd' and 'm') one character per limit naming the limit in the table,
-- each as the byte REF_BASE + number. Operations: 'e' check every limit and commit all when all
-- allow (else none); 'p' check only; 'r' refund; 'x' refund, each limit's key followed by its reset
-- marker's (two keys per limit); after a refund's keys, its mark; 'd' reset: per limit its key and
-- its marker's, the key deleted; 'm' read reset markers (one key each). 'E' and 'P' are 'e' and 'p'
-- of a call whose every limit costs 1: its costs are not sent. The other calls' costs follow in
-- ARGV, one per limit, call after call; the keys are KEYS, call after call.
local calls = ARGV[CALLS_AT]
local OP_EVALUATE, OP_PEEK, OP_REFUND, OP_DELETE = byte('eprd', 1, 4)
local OP_EVALUATE_UNIT, OP_PEEK_UNIT, OP_REFUND_MARKED, OP_MARKERS = byte('EPxm', 1, 4)

-- A reset marker holds the time of the reset (a packed double, exact): a call admitted before it
-- held units of the allowance the reset threw away, so its refund must not take from the new one.
local function reset_at(marker)
  local stored = redis.call('GET', marker)
  if not stored then return nil end
  return (struct.unpack('<d', stored))
end

-- A reset: the key's state goes, and, when it had state, its marker says when, for as long as
-- that state could still have mattered (its TTL; an earlier marker's, if longer).
local function reset_key(key, marker)
  local ttl_ms = redis.call('PTTL', key)
  redis.call('DEL', key)
  if ttl_ms > 0 then
    ttl_ms = math.max(ttl_ms, redis.call('PTTL', marker))
    redis.call('SET', marker, pack('<d', now_ms), 'PX', ttl_ms)
  end
end

-- How long after its admission a refund can give anything back (each twin's refund is so bounded).
local function refund_horizon_ms(code, first, second, cost)
  if code == 't' then return cost * 1000 / second elseif code == 'g' then return cost * first end
  return second
end

-- One call: op, its number of limits, its first limit's number, where its descriptor is, where its
-- keys and costs start. Answers the call's outcomes, packed.
local function run_call(op, count, ref, at, key_at, cost_at)
  if op == OP_REFUND or op == OP_REFUND_MARKED then
    -- A refund's argument per limit is \`cost@admittedAtMs\` (the time the refunded call was admitted
    -- at, which bounds what it still holds), or the cost alone for an admission taken as now.
    local marked = op == OP_REFUND_MARKED
    -- Its last key, its mark, makes it give back once, even sent again (ioredis after a reconnect,
    -- the outage policy after an outage). A release's ('r') lives its lease out; a rate limit's 2
    -- minutes at most: kept a window (a day), refunded calls would fill Redis at their rate.
    local mark = KEYS[key_at + (marked and 2 or 1) * count]
    if redis.call('EXISTS', mark) == 1 then return '' end
    local horizon_ms = 0
    for index = 1, count do
      ref = byte(calls, at + 1 + index) - REF_BASE
      local argument = ARGV[cost_at + index - 1]
      local cost, admitted_at_ms = string.match(argument, '^([^@]+)@(.+)$')
      if cost == nil then cost, admitted_at_ms = argument, now_ms end
      admitted_at_ms = admitted_at_ms + 0
      local key_index = key_at + index - 1
      if marked then key_index = key_at + 2 * index - 2 end
      -- A call admitted before (or in the same batch as) the key's reset holds nothing of the
      -- allowance since: the safe side when both have the same time.
      local reset_ms = nil
      if marked and CODES[ref] ~= 'c' then reset_ms = reset_at(KEYS[key_index + 1]) end
      if reset_ms == nil or admitted_at_ms > reset_ms then
        local refund = REFUNDS[CODES[ref]]
        refund(KEYS[key_index], now_ms, FIRSTS[ref], SECONDS[ref], cost + 0, admitted_at_ms)
      end
      local left_ms = refund_horizon_ms(CODES[ref], FIRSTS[ref], SECONDS[ref], cost + 0)
      horizon_ms = math.max(horizon_ms, admitted_at_ms + left_ms - now_ms)
    end
    local px = px_of(marked and math.min(horizon_ms, 120000) or horizon_ms)
    if px ~= nil then redis.call('SET', mark, '1', 'PX', px) end
    return ''
  end
  local commit = op == OP_EVALUATE or op == OP_EVALUATE_UNIT
  local unit = op == OP_EVALUATE_UNIT or op == OP_PEEK_UNIT
  if count == 1 then
    -- The usual call, one limit: no tables.
    local code, key, cost = CODES[ref], KEYS[key_at], 1
    if not unit then cost = ARGV[cost_at] + 0 end
    local allowed, retry_after_ms, remaining, reset_after_ms, ttl_ms, state, detail =
      STEPS[code](key, now_ms, FIRSTS[ref], SECONDS[ref], cost)
    if commit and allowed then COMMITS[code](key, now_ms, cost, ttl_ms, state, detail) end
    return pack('<dddd', allowed and 1 or 0, retry_after_ms, remaining, reset_after_ms)
  end
  if count == 2 then
    -- Two limits (a common declaration, e.g. per minute and per day): no tables either, since
    -- building a table per step costs Redis more than the two limits' own commands.
    local ref2 = byte(calls, at + 3) - REF_BASE
    local code1, key1, code2, key2, cost1, cost2 = CODES[ref], KEYS[key_at], CODES[ref2], KEYS[key_at + 1], 1, 1
    if not unit then cost1, cost2 = ARGV[cost_at] + 0, ARGV[cost_at + 1] + 0 end
    local allowed1, retry_after_ms1, remaining1, reset_after_ms1, ttl_ms1, state1, detail1 =
      STEPS[code1](key1, now_ms, FIRSTS[ref], SECONDS[ref], cost1)
    local allowed2, retry_after_ms2, remaining2, reset_after_ms2, ttl_ms2, state2, detail2 =
      STEPS[code2](key2, now_ms, FIRSTS[ref2], SECONDS[ref2], cost2)
    if commit and allowed1 and allowed2 then
      COMMITS[code1](key1, now_ms, cost1, ttl_ms1, state1, detail1)
      COMMITS[code2](key2, now_ms, cost2, ttl_ms2, state2, detail2)
    end
    return pack('<dddddddd', allowed1 and 1 or 0, retry_after_ms1, remaining1, reset_after_ms1,
      allowed2 and 1 or 0, retry_after_ms2, remaining2, reset_after_ms2)
  end
  local steps, all_allowed = {}, true
  for index = 1, count do
    ref = byte(calls, at + 1 + index) - REF_BASE
    local cost = 1
    if not unit then cost = ARGV[cost_at + index - 1] + 0 end
    local step = { STEPS[CODES[ref]](KEYS[key_at + index - 1], now_ms, FIRSTS[ref], SECONDS[ref], cost) }
    step[8] = cost
    steps[index] = step
    if not step[1] then all_allowed = false end
  end
  if commit and all_allowed then
    for index = 1, count do
      ref = byte(calls, at + 1 + index) - REF_BASE
      local step = steps[index]
      COMMITS[CODES[ref]](KEYS[key_at + index - 1], now_ms, step[8], step[5], step[6], step[7])
    end
  end
  local parts = {}
  for index = 1, count do
    local step = steps[index]
    parts[index] = pack('<dddd', step[1] and 1 or 0, step[2], step[3], step[4])
  end
  return table.concat(parts)
end

local replies, reply = {}, { '' }
local at, key_at, cost_at, call, calls_length = 1, 1, CALLS_AT + 1, 0, #calls
while at <= calls_length do
  call = call + 1
  local op, keys, ref = byte(calls, at, at + 2)
  keys = keys - REF_BASE
  -- The call's number of limits: two keys each for a marked refund, and a refund's mark.
  local count = op == OP_REFUND and keys - 1 or keys
  if op == OP_REFUND_MARKED then count = (keys - 1) / 2 end
  if op == OP_DELETE then
    for index = 0, keys - 1, 2 do reset_key(KEYS[key_at + index], KEYS[key_at + index + 1]) end
    replies[call] = ''
    at = at + 2
  elseif op == OP_MARKERS then
    -- Per marker: live (1 or 0), the time of its reset, the ms it has left, 0.
    local parts = {}
    for index = 1, keys do
      local marker = KEYS[key_at + index - 1]
      local time_ms = reset_at(marker)
      if time_ms == nil then
        parts[index] = pack('<dddd', 0, 0, 0, 0)
      else
        parts[index] = pack('<dddd', 1, time_ms, redis.call('PTTL', marker), 0)
      end
    end
    replies[call] = table.concat(parts)
    at = at + 2
  else
    local ok, result = pcall(run_call, op, count, ref - REF_BASE, at, key_at, cost_at)
    if ok then
      replies[call] = result
    else
      replies[call] = ''
      if type(result) == 'table' then result = result.err end
      reply[#reply + 1] = call
      reply[#reply + 1] = tostring(result)
    end
    if op ~= OP_EVALUATE_UNIT and op ~= OP_PEEK_UNIT then cost_at = cost_at + count end
    at = at + 2 + count
  end
  key_at = key_at + keys
end
-- The batch's time first: the moment every call of it was decided at (a refund bounds itself by it).
replies[0] = pack('<d', now_ms) -- one concatenation: Redis's Lua hashes each string it makes whole
reply[1] = table.concat(replies, '', 0, call)
return reply`;

/**
 * A call's descriptor gives its number of keys, and names each of its limits, by one character: the
 * byte REF_BASE + the number (a limit's position, from 1, in its batch's limit table). Printable
 * ASCII, so it crosses any client as one byte: a call has at most `MAX_BATCH_LIMITS` keys, and a
 * batch at most `MAX_BATCH_LIMITS` distinct limits.
 */
export const REF_BASE = 32;
export const MAX_BATCH_LIMITS = 126 - REF_BASE;
/** The descriptor characters of the numbers 0 to `MAX_BATCH_LIMITS`. */
export const DESCRIPTOR_NUMBERS: readonly string[] = Array.from(
  { length: MAX_BATCH_LIMITS + 1 },
  (_, number) => String.fromCharCode(REF_BASE + number),
);
/**
 * What a key's reset marker adds to the key: the marker shares the key's hash tag (its Cluster
 * slot), and no storage key ends with it (every key ends with a built-in limit's id, or `#<n>`: a
 * digit).
 */
export const RESET_MARKER_SUFFIX = '!reset';

/** A call's operation in its descriptor when every limit costs 1 (its costs are not sent). */
export const UNIT_COST_OPS = { e: 'E', p: 'P', r: 'r', x: 'x', d: 'd', m: 'm' } as const;

/** One generated script and its SHA1 (the EVALSHA handle). */
export interface RedisScript {
  readonly source: string;
  readonly sha1: string;
}

const scripts = new Map<string, RedisScript>();
const scriptsBySha1 = new Map<string, RedisScript>();
const luaSources = new Map<string, string>();

/** Read the Lua twins and their helpers now (once per process): a missing file fails at construction. */
export function loadLuaTwins(): void {
  luaSource('helpers.lua');
  for (const file of Object.values(TWIN_FILES)) luaSource(file);
}

/** A script generated by this process, by its SHA1 (for EVAL when Redis answers NOSCRIPT). */
export function scriptBySha1(sha1: string): RedisScript | undefined {
  return scriptsBySha1.get(sha1);
}

/**
 * The script for a combination of algorithms: it decides a batch of calls, one after the other,
 * each atomically and all-or-nothing, with one reading of the clock for the batch. It defines only
 * the Lua twins of the algorithms its batch uses, because Redis runs the whole script body (every
 * function definition is a new closure) on each call. Generated once per process and combination;
 * Redis caches each by its SHA1.
 *
 * KEYS: every limit's key, call after call (with its reset marker's for `x` and `d`; markers alone
 * for `m`; after a refund's, `r` or `x`, its mark, so that it runs once). ARGV: the time in ms when
 * `givenTime` (tests; otherwise Redis `TIME`); then the descriptors of all the calls in one string
 * (per call its operation, `e` evaluate, `p` peek, `r` refund, `x` refund checked against reset
 * markers, `d` reset, `m` read reset markers, or `E`/`P` for an evaluation or peek whose every
 * limit costs 1; its number of keys; except for `d` and `m`, one character per limit; see
 * `REF_BASE`); then the costs of the calls that have them (`e`, `p`, `r`, `x`), one per limit;
 * then the batch's distinct limits (algorithm code and two parameters each) and their number. Arguments per call are few because Redis parses, and the client encodes,
 * each one: a one-limit call of cost 1 sends its key alone. The script touches no key but those in
 * KEYS.
 *
 * Reply: an array. Its first element is one binary string: per limit of every evaluated or peeked
 * call, four little-endian doubles (allowed 1 or 0, retryAfterMs, remaining, resetAfterMs); per
 * marker of an `m` call, four too (live 1 or 0, the reset's time, its ms left, 0); a refund, a
 * reset, or a call that failed, adds nothing. Then, per failed call, its position (from 1) and the
 * error. Doubles cross the protocol exactly, and packing them costs Redis far less than a table of
 * numbers or text.
 *
 * @param extraTtlMs added to every TTL (see `RedisStoreOptions.extraTtlMs`).
 * @param algorithms the algorithms of the batch, an OR of `algorithmBit`s.
 */
export function redisScript(
  givenTime: boolean,
  extraTtlMs: number,
  algorithms: number,
): RedisScript {
  const name = `${givenTime ? 'given' : 'server'}:${extraTtlMs}:${algorithms}`;
  let script = scripts.get(name);
  if (script === undefined) {
    const source = generate(givenTime, extraTtlMs, algorithms);
    script = { source, sha1: createHash('sha1').update(source).digest('hex') };
    scripts.set(name, script);
    scriptsBySha1.set(script.sha1, script);
  }
  return script;
}

function generate(givenTime: boolean, extraTtlMs: number, algorithms: number): string {
  const lines = [
    // Locals, not globals, for what every call uses: a local (an upvalue in the twins) is read
    // without a table lookup, and Redis runs this per call of every batch.
    'local struct, math, string, table, redis, pcall, tostring, type, unpack = struct, math, string, table, redis, pcall, tostring, type, unpack',
    'local byte, pack = string.byte, struct.pack',
    `local extra_ttl_ms = ${String(extraTtlMs)}`,
    CONSTANTS,
    luaSource('helpers.lua'),
  ];
  const codes = (Object.keys(TWIN_FILES) as AlgorithmCode[]).filter(
    (code) => (algorithms & ALGORITHM_BITS[code]) !== 0,
  );
  for (const code of codes) lines.push(luaSource(TWIN_FILES[code]));
  const table = (suffix: string): string =>
    `{ ${codes.map((code) => `${code} = ${TWIN_FUNCTIONS[code]}${suffix}`).join(', ')} }`;
  lines.push(
    `local STEPS = ${table('')}`,
    `local COMMITS = ${table('_commit')}`,
    `local REFUNDS = ${table('_refund')}`,
  );
  // Numbers from strings: arithmetic converts a numeric string exactly as tonumber() does, but
  // parses it once (Lua 5.1's tonumber parses twice).
  if (givenTime) {
    lines.push('local now_ms = ARGV[1] + 0');
  } else {
    lines.push("local time = redis.call('TIME')", 'local now_ms = time[1] * 1000 + time[2] / 1000');
  }
  lines.push(
    `local REF_BASE = ${String(REF_BASE)}`,
    DISPATCH.replaceAll('CALLS_AT', givenTime ? '2' : '1'),
  );
  return lines.join('\n');
}

/** A .lua file beside the algorithms (read once). */
function luaSource(file: string): string {
  let source = luaSources.get(file);
  if (source === undefined) {
    source = readFileSync(join(algorithmsDirectory(), file), 'utf8');
    luaSources.set(file, source);
  }
  return source;
}

/** Where the .lua files are: `algorithms/` beside the build's core files. */
function algorithmsDirectory(): string {
  const file = buildFile();
  const candidates = file === undefined ? [] : [join(dirname(file), 'algorithms')];
  for (const candidate of candidates) {
    if (existsSync(join(candidate, TWIN_FILES.f))) return candidate;
  }
  const files = Object.values(TWIN_FILES);
  throw new Error(
    `RedisStore: cannot find its Lua scripts (${files.join(', ')}); looked in ${candidates.length === 0 ? 'no directory' : candidates.join(', ')}`,
  );
}

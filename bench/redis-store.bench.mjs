// Redis store benchmark (issue 5): RedisStore throughput with 128 calls in flight on one node-redis
// connection, side by side in the same rounds with rate-limiter-flexible's RateLimiterRedis on the
// same Redis and connection, and the raw round-trip floor (INCR at the same concurrency).
//
// Needs a Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379) and the build (npm run build).
// Run alone: node bench/redis-store.bench.mjs. `npm run bench` may run it in a child.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import {
  formatRate,
  formatRatio,
  importPackage,
  log,
  measureRounds,
  median,
  medianRatio,
} from './lib/harness.mjs';

const require = createRequire(import.meta.url);
const { createClient } = require('redis');
const { RateLimiterRedis } = require('rate-limiter-flexible');
const {
  ConcurrencyLimit,
  createRateLimiter,
  FixedWindowRateLimit,
  GcraRateLimit,
  RedisStore,
  SlidingWindowRateLimit,
  TokenBucketRateLimit,
} = await importPackage();

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SUBJECT_COUNT = 1_000;
const OPS_PER_ROUND = Number(process.env.BENCH_REDIS_OPS ?? 40_000);
const WARMUP_ROUNDS = Number(process.env.BENCH_REDIS_WARMUP ?? 2);
const ROUNDS = Number(process.env.BENCH_REDIS_ROUNDS ?? 7);
const IN_FLIGHT = 128;
// Short windows: every key of the benchmark expires a minute after its round.
const WINDOW_SECONDS = 60;
const HIGH = 1_000_000_000;

const subjects = Array.from({ length: SUBJECT_COUNT }, (_, index) => `user:${100_000 + index}`);
let setups = 0;
/** A key prefix no earlier round used, so that every round starts from empty keys. */
const freshPrefix = (name) => `bench:${process.pid}:${name}:${setups++}:`;

async function prepared(op) {
  for (const subject of subjects) await op(subject);
  return op;
}

function ours(client, limits) {
  return () => {
    const limiter = createRateLimiter({
      limits: limits(),
      store: new RedisStore({ client }),
      prefix: freshPrefix('ours'),
      name: 'test',
    });
    return prepared((subject) => limiter.consume(subject));
  };
}

/** A call that takes a concurrency slot and gives it back: `consume`, then `decision.release()`. */
function oursAcquireRelease(client, limits) {
  return () => {
    const limiter = createRateLimiter({
      limits: limits(),
      store: new RedisStore({ client }),
      prefix: freshPrefix('ours'),
      name: 'test',
    });
    return prepared(async (subject) => {
      const decision = await limiter.consume(subject);
      await decision.release();
      return decision;
    });
  };
}

function rateLimiterRedis(client) {
  return () => {
    const limiter = new RateLimiterRedis({
      storeClient: client,
      useRedisPackage: true,
      points: HIGH,
      duration: WINDOW_SECONDS,
      keyPrefix: freshPrefix('rlr'),
    });
    return prepared((subject) => limiter.consume(subject));
  };
}

// What any one-EVALSHA fixed window must pay on Redis 7, without our logic: the same call shape
// (40-hex SHA1, one key, three ARGV, a 32-byte reply read as a Buffer) running an empty script, and
// a script doing only the commands a fixed window needs (TIME, GET, SET KEEPTTL). Evidence for what
// the targets allow, measured in the same rounds.
const EMPTY_SCRIPT = "return 'abcdefghabcdefghabcdefghabcdefgh'";
const COMMANDS_ONLY_SCRIPT = `local time = redis.call('TIME')
local stored = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], 'abcdefghabcdefgh', 'KEEPTTL')
return 'abcdefghabcdefghabcdefghabcdefgh'`;
const BINARY_REPLY = { typeMapping: { 36: Buffer } };

function scriptFloor(client, source) {
  return async () => {
    const sha1 = await client.scriptLoad(source);
    const prefix = freshPrefix('floor');
    const limit = String(HIGH);
    const periodMs = String(WINDOW_SECONDS * 1000);
    return prepared((subject) =>
      client.sendCommand(
        ['EVALSHA', sha1, '1', prefix + subject, limit, periodMs, '1'],
        BINARY_REPLY,
      ),
    );
  };
}

function incrFloor(client) {
  return () => {
    const prefix = freshPrefix('incr');
    return prepared((subject) => client.incr(prefix + subject));
  };
}

const fixedWindow = () => [
  new FixedWindowRateLimit({ maxCalls: HIGH, perSeconds: WINDOW_SECONDS }),
];
const twoLimits = () => [
  new FixedWindowRateLimit({ maxCalls: HIGH, perSeconds: WINDOW_SECONDS }),
  new FixedWindowRateLimit({ maxCalls: HIGH, perSeconds: 2 * WINDOW_SECONDS }),
];
const slidingWindow = () => [
  // Its largest quota (10 000): a subject gets far fewer calls in a run, so none is denied.
  new SlidingWindowRateLimit({ maxCalls: 10_000, perSeconds: WINDOW_SECONDS }),
];
const tokenBucket = () => [new TokenBucketRateLimit({ capacity: HIGH, refillPerSecond: 1_000 })];
const gcra = () => [new GcraRateLimit({ ratePerSecond: 1_000_000, burst: HIGH })];
// A slot per call, released before the subject's next call: the state stays at one lease or none.
const concurrencyLimit = () => [new ConcurrencyLimit({ maxConcurrent: 10_000 })];

const ONE = 'ours: fixed window';
const TWO = 'ours: two fixed windows';
const CONCURRENCY = 'ours: concurrency limit (acquire+release)';
const RLR = 'RateLimiterRedis.consume';
const INCR = 'INCR (round-trip floor)';
const EMPTY = 'EVALSHA of an empty script (same call shape)';
const COMMANDS_ONLY = 'EVALSHA: TIME + GET + SET KEEPTTL only (no logic)';

function cases(client) {
  return (
    [
      [ONE, ours(client, fixedWindow)],
      [TWO, ours(client, twoLimits)],
      ['ours: sliding window', ours(client, slidingWindow)],
      ['ours: token bucket', ours(client, tokenBucket)],
      ['ours: GCRA', ours(client, gcra)],
      [CONCURRENCY, oursAcquireRelease(client, concurrencyLimit)],
      [RLR, rateLimiterRedis(client)],
      [INCR, incrFloor(client)],
      [EMPTY, scriptFloor(client, EMPTY_SCRIPT)],
      [COMMANDS_ONLY, scriptFloor(client, COMMANDS_ONLY_SCRIPT)],
    ]
      .map(([name, setup]) => ({
        name,
        setup,
        mode: { inFlight: IN_FLIGHT },
        subjects,
        ops: OPS_PER_ROUND,
      }))
      // BENCH_REDIS_ONLY=<regexp> keeps only the matching cases (when investigating).
      .filter(({ name }) => new RegExp(process.env.BENCH_REDIS_ONLY ?? '').test(name))
  );
}

/** Redis server CPU (user + sys) so far, in µs, from INFO cpu. */
async function redisCpuMicros(client) {
  const info = await client.info('cpu');
  const seconds = (field) => Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info)?.[1]);
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6;
}

/**
 * CPU per call of Redis and of this Node process, case by case (one extra pass, not timed for
 * ops/s). Less sensitive than ops/s to other load on the machine: it says where a call's cost is.
 */
async function cpuPerCall(client, list) {
  const perCall = new Map();
  for (const benchCase of list) {
    const op = await benchCase.setup();
    const batch = new Array(IN_FLIGHT);
    const redisBefore = await redisCpuMicros(client);
    const nodeBefore = process.cpuUsage();
    for (let first = 0; first < benchCase.ops; first += IN_FLIGHT) {
      for (let offset = 0; offset < IN_FLIGHT; offset++) {
        batch[offset] = op(subjects[(first + offset) % SUBJECT_COUNT]);
      }
      await Promise.all(batch);
    }
    const node = process.cpuUsage(nodeBefore);
    const redis = (await redisCpuMicros(client)) - redisBefore;
    perCall.set(benchCase.name, {
      redis: redis / benchCase.ops,
      node: (node.user + node.system) / benchCase.ops,
    });
  }
  return perCall;
}

/** Mean latency of a lone call (one in flight, awaited one after the other), in µs. */
async function loneCallLatency(client, list) {
  const latency = new Map();
  const calls = Number(process.env.BENCH_REDIS_LONE_CALLS ?? 2_000);
  for (const benchCase of list) {
    const op = await benchCase.setup();
    const started = process.hrtime.bigint();
    for (let index = 0; index < calls; index++) await op(subjects[index % SUBJECT_COUNT]);
    latency.set(benchCase.name, Number(process.hrtime.bigint() - started) / 1e3 / calls);
  }
  return latency;
}

export async function run() {
  const client = createClient({ url: REDIS_URL });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const list = cases(client);
    log(
      `redis: ${list.length} cases, ${WARMUP_ROUNDS} warm-up + ${ROUNDS} rounds of ${OPS_PER_ROUND} ops, ${IN_FLIGHT} in flight`,
    );
    const perCase = await measureRounds(list, {
      warmupRounds: WARMUP_ROUNDS,
      rounds: ROUNDS,
      onRound: (round, warmup) =>
        log(
          `  redis: ${round < warmup ? 'warm-up' : 'round'} ${round < warmup ? round + 1 : round - warmup + 1} done`,
        ),
    });

    const cpu = await cpuPerCall(client, list);
    const lone = await loneCallLatency(client, list);

    const rows = list.map(({ name }) => {
      const rates = perCase.get(name);
      return {
        name,
        opsPerSec: Math.round(median(rates)),
        range: `${formatRate(Math.min(...rates))} – ${formatRate(Math.max(...rates))}`,
        vsRateLimiterRedis: formatRatio(medianRatio(perCase, name, RLR)),
        vsIncr: formatRatio(medianRatio(perCase, name, INCR)),
        redisCpuPerCall: `${cpu.get(name).redis.toFixed(2)} µs`,
        nodeCpuPerCall: `${cpu.get(name).node.toFixed(2)} µs`,
        loneCallLatency: `${lone.get(name).toFixed(1)} µs`,
      };
    });
    const oneVsRlr = medianRatio(perCase, ONE, RLR);
    const oneVsIncr = medianRatio(perCase, ONE, INCR);
    // Cost of a two-limit call relative to a one-limit call = (one-limit ops/s) / (two-limit ops/s).
    const twoVsOne = medianRatio(perCase, ONE, TWO);
    const targets = [
      {
        name: 'fixed window vs RateLimiterRedis (ops/s ratio)',
        value: formatRatio(oneVsRlr),
        target: '≥ 2.00×',
        met: oneVsRlr >= 2.0,
      },
      {
        name: 'fixed window vs INCR floor (ops/s ratio)',
        value: formatRatio(oneVsIncr),
        target: '≥ 0.50×',
        met: oneVsIncr >= 0.5,
      },
      {
        name: 'cost of two limits vs one',
        value: formatRatio(twoVsOne),
        target: '≤ 1.20×',
        met: twoVsOne <= 1.2,
      },
    ];
    // Where the targets stand against what Redis itself must do, from this run's own figures.
    const total = (name) => cpu.get(name).redis + cpu.get(name).node;
    const notes = [];
    if (cpu.has(ONE) && cpu.has(EMPTY) && cpu.has(COMMANDS_ONLY)) {
      // The commands a fixed window runs (GET, SET KEEPTTL, and one TIME) without any logic.
      const commandsMicros = cpu.get(COMMANDS_ONLY).redis - cpu.get(EMPTY).redis;
      notes.push(
        `Closed loop: ${IN_FLIGHT} calls go out, then all are awaited, so Node and Redis mostly take turns and ops/s follows 1 / (Node + Redis CPU per call): ours, fixed window, ${total(ONE).toFixed(1)} µs per call → ${formatRate(1e6 / total(ONE))} ops/s predicted; RateLimiterRedis ${total(RLR).toFixed(1)} µs; INCR ${total(INCR).toFixed(1)} µs. The ops/s targets are CPU budgets: ≥ 2.0× RateLimiterRedis means ≤ ${(total(RLR) / 2).toFixed(1)} µs per call, ≥ 0.5× INCR means ≤ ${(total(INCR) * 2).toFixed(1)} µs.`,
        `Redis's floor for a fixed window: the commands alone (GET + SET KEEPTTL + TIME, the logic-free script minus the empty one) cost ${commandsMicros.toFixed(1)} µs of Redis CPU per call here, whatever the batching; the logic-free script, one EVALSHA per call, measures ${formatRatio(medianRatio(perCase, COMMANDS_ONLY, INCR))} INCR.`,
      );
      if (cpu.has(TWO)) {
        notes.push(
          `Two limits vs one: a second limit runs its own GET and SET KEEPTTL, about ${commandsMicros.toFixed(1)} µs of Redis CPU, so a two-limit call costs at least about ${((total(ONE) + commandsMicros) / total(ONE)).toFixed(2)}× a one-limit call (${total(ONE).toFixed(1)} µs Node + Redis) from Redis's commands alone; measured ${total(TWO).toFixed(1)} µs (${(total(TWO) / total(ONE)).toFixed(2)}×).`,
        );
      }
    }
    if (perCase.has(ONE) && perCase.has(CONCURRENCY)) {
      notes.push(
        `Concurrency limit (acquire+release) vs fixed window: ${formatRatio(medianRatio(perCase, ONE, CONCURRENCY))} the cost per call (fixed window ops/s ÷ its ops/s, median of rounds). Its operation is \`consume(subject)\` then \`decision.release()\`: two script calls (the lease is taken, then removed), batched with the other calls of their tick, \`ConcurrencyLimit({ maxConcurrent: 10_000 })\`, so a list of one lease or none${cpu.has(CONCURRENCY) ? `; ${total(CONCURRENCY).toFixed(1)} µs Node + Redis CPU per operation vs ${total(ONE).toFixed(1)} µs` : ''}.`,
      );
    }
    return {
      title: 'Redis store (issues 5 and 18)',
      intro: [
        `All cases share one node-redis connection to ${REDIS_URL} and keep ${IN_FLIGHT} calls in flight (batches of ${IN_FLIGHT} concurrent calls, \`Promise.all\`), over ${SUBJECT_COUNT.toLocaleString('en-US')} subjects in turn.`,
        `Ours: \`createRateLimiter({ limits, store: new RedisStore({ client }) }).consume(subject)\` from the built package (dist): the calls of a tick share one EVALSHA (up to 64), Redis server time, outage policy (with its insurance record) included. Peer: rate-limiter-flexible \`RateLimiterRedis.consume(subject)\` (\`useRedisPackage: true\`). Floor: \`client.incr(key)\`, one plain round trip.`,
        `Limits nobody reaches (${HIGH.toLocaleString('en-US')} per ${WINDOW_SECONDS} s). Every round uses fresh keys, touches every subject once (untimed), then times ${OPS_PER_ROUND.toLocaleString('en-US')} calls. ${WARMUP_ROUNDS} warm-up + ${ROUNDS} measured rounds, case order rotating; medians over rounds, ratios computed within each round.`,
        `Two reference scripts show what a one-EVALSHA fixed window must pay on this Redis before any logic: the same call shape running an empty script, and one running only TIME, GET and SET KEEPTTL. CPU per call (Redis from \`INFO cpu\`, Node from \`process.cpuUsage()\`) comes from one extra pass per case after the rounds; it depends less than ops/s on other load on the machine. Lone-call latency: calls awaited one after the other (one in flight), mean.`,
      ],
      rows,
      columns: [
        'name',
        'opsPerSec',
        'range',
        'vsRateLimiterRedis',
        'vsIncr',
        'redisCpuPerCall',
        'nodeCpuPerCall',
        'loneCallLatency',
      ],
      targets,
      notes,
    };
  } finally {
    await client.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { renderSection } = await import('./lib/report.mjs');
  const { normalizeSection } = await import('./lib/report.mjs');
  console.log(renderSection(normalizeSection(await run(), 'Redis store (issues 5 and 18)')));
}

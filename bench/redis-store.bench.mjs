// Redis store benchmark (issue 5): RedisStore throughput with 128 calls in flight on one node-redis
// connection, side by side in the same rounds with rate-limiter-flexible's RateLimiterRedis on the
// same Redis and connection, and the raw round-trip floor (INCR at the same concurrency).
//
// Needs redis-server on the PATH (the benchmark starts a private one, so that no other client's
// work lands in its CPU figures) or a Redis at BENCH_REDIS_URL, and the build (npm run build).
// Run alone: node bench/redis-store.bench.mjs. `npm run bench` may run it in a child.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** A limiter of ours on the shared client, with keys of its own. */
function oursLimiter(client, limits) {
  return createRateLimiter({
    limits: limits(),
    store: new RedisStore({ client }),
    prefix: freshPrefix('ours'),
    name: 'test',
  });
}

function ours(client, limits) {
  return () => {
    const limiter = oursLimiter(client, limits);
    return prepared((subject) => limiter.consume(subject));
  };
}

/** A call that takes a concurrency slot and gives it back: `consume`, then `decision.release()`. */
function oursAcquireRelease(client, limits) {
  return () => {
    const limiter = oursLimiter(client, limits);
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

// Where a decision's cost lives, layer by layer: the store alone (RedisStore.evaluate with the
// checks made once, no engine, no outage policy and its insurance record), and what any batched
// GET/SET design reaches with no logic at all: the calls of a tick gathered BATCH per EVALSHA (as
// many as RedisStore puts in one) of a script doing TIME, then per key GET + SET KEEPTTL and a
// packed 32-byte answer, one promise per call and nothing else in Node.
function storeAlone(client, limits) {
  return () => {
    const store = new RedisStore({ client });
    const prefix = freshPrefix('store');
    const made = limits();
    const checks = new Map(
      subjects.map((subject) => [
        subject,
        made.map((limit, index) => ({ key: `${prefix}{${subject}}${index}`, limit, cost: 1 })),
      ]),
    );
    return prepared((subject) => store.evaluate(checks.get(subject)));
  };
}

// The most one-limit calls RedisStore puts in one script call (MAX_CALLS, redis-script-call.ts).
const BATCH = 128;
const BATCHED_COMMANDS_SCRIPT = `local time = redis.call('TIME')
local answers = {}
for index = 1, #KEYS do
  local stored = redis.call('GET', KEYS[index])
  redis.call('SET', KEYS[index], 'abcdefghabcdefgh', 'KEEPTTL')
  answers[index] = struct.pack('<dddd', 1, 0, 5, 60000)
end
return { struct.pack('<d', 1) .. table.concat(answers) }`;

function batchedCommandsFloor(client) {
  return async () => {
    const sha1 = await client.scriptLoad(BATCHED_COMMANDS_SCRIPT);
    const prefix = freshPrefix('batched');
    let waiting = [];
    const flush = () => {
      const calls = waiting;
      waiting = [];
      for (let first = 0; first < calls.length; first += BATCH) {
        const part = calls.slice(first, first + BATCH);
        const args = ['EVALSHA', sha1, String(part.length)];
        for (const call of part) args.push(call.key);
        client.sendCommand(args, BINARY_REPLY).then((reply) => {
          part.forEach((call, index) => call.resolve(reply[0].readDoubleLE(8 + 32 * index)));
        });
      }
    };
    return prepared(
      (subject) =>
        new Promise((resolve) => {
          if (waiting.push({ key: prefix + subject, resolve }) === 1) process.nextTick(flush);
        }),
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
const STORE_ALONE = 'RedisStore.evaluate alone (fixed window; no engine, no outage policy)';
const STORE_ALONE_TWO = 'RedisStore.evaluate alone (two fixed windows)';
const BATCHED_COMMANDS = `batched EVALSHA, ${BATCH} calls: GET + SET KEEPTTL per call only (no logic)`;

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
      [STORE_ALONE, storeAlone(client, fixedWindow)],
      [STORE_ALONE_TWO, storeAlone(client, twoLimits)],
      [BATCHED_COMMANDS, batchedCommandsFloor(client)],
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

/** Redis server CPU (user + sys, every thread of the process) so far, in µs, from INFO cpu. */
async function redisCpuMicros(client) {
  const info = await client.info('cpu');
  const seconds = (field) => Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info)?.[1]);
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6;
}

/** How many script calls (EVALSHA and EVAL) Redis has run so far, from INFO commandstats. */
async function scriptCalls(client) {
  const info = await client.info('commandstats');
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) {
    calls += Number(match[1]);
  }
  return calls;
}

/**
 * CPU per call of Redis and of this Node process, and calls per script call, read around every
 * timed run of every round (the same alternating rounds as ops/s; medians over rounds). Redis's
 * CPU is the whole server process's: only this benchmark uses its private server.
 */
function cpuProbe(client) {
  const samples = new Map();
  return {
    samples,
    async start() {
      return {
        redis: await redisCpuMicros(client),
        scripts: await scriptCalls(client),
        node: process.cpuUsage(),
      };
    },
    async stop(benchCase, started, measured) {
      const node = process.cpuUsage(started.node);
      const redis = (await redisCpuMicros(client)) - started.redis;
      const scripts = (await scriptCalls(client)) - started.scripts;
      if (!measured) return;
      const list = samples.get(benchCase.name) ?? [];
      list.push({
        redis: redis / benchCase.ops,
        node: (node.user + node.system) / benchCase.ops,
        callsPerScript: scripts === 0 ? NaN : benchCase.ops / scripts,
      });
      samples.set(benchCase.name, list);
    },
  };
}

/**
 * Latency of a lone call (one in flight, awaited one after the other), in µs: the mean of each
 * round, alternating the cases like the throughput rounds, median over rounds.
 */
async function loneCallLatency(list) {
  const calls = Number(process.env.BENCH_REDIS_LONE_CALLS ?? 500);
  const rates = await measureRounds(
    list.map((benchCase) => ({ ...benchCase, mode: 'sequential', ops: calls })),
    { warmupRounds: 1, rounds: Number(process.env.BENCH_REDIS_LONE_ROUNDS ?? 5) },
  );
  return new Map([...rates].map(([name, perRound]) => [name, 1e6 / median(perRound)]));
}

/** A free loopback port (the OS picks it). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A redis-server of this benchmark alone, without persistence; `stop()` ends it. */
async function privateRedis() {
  const port = await freePort();
  const directory = mkdtempSync(join(tmpdir(), 'mcprl-bench-redis-'));
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      directory,
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.once('error', () => undefined);
  const url = `redis://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    const probe = createClient({ url, socket: { reconnectStrategy: false } });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      await probe.close();
      break;
    } catch (error) {
      if (probe.isOpen) probe.destroy();
      if (attempt === 50 || child.exitCode !== null) {
        child.kill('SIGKILL');
        throw new Error('could not start redis-server for the benchmark', { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export async function run() {
  const server = process.env.BENCH_REDIS_URL === undefined ? await privateRedis() : undefined;
  const redisUrl = server?.url ?? process.env.BENCH_REDIS_URL;
  const client = createClient({ url: redisUrl });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const list = cases(client);
    log(
      `redis: ${list.length} cases, ${WARMUP_ROUNDS} warm-up + ${ROUNDS} rounds of ${OPS_PER_ROUND} ops, ${IN_FLIGHT} in flight`,
    );
    const probe = cpuProbe(client);
    const perCase = await measureRounds(list, {
      warmupRounds: WARMUP_ROUNDS,
      rounds: ROUNDS,
      probe,
      onRound: (round, warmup) =>
        log(
          `  redis: ${round < warmup ? 'warm-up' : 'round'} ${round < warmup ? round + 1 : round - warmup + 1} done`,
        ),
    });
    const cpu = new Map(
      [...probe.samples].map(([name, samples]) => [
        name,
        {
          redis: median(samples.map((sample) => sample.redis)),
          node: median(samples.map((sample) => sample.node)),
          callsPerScript: median(samples.map((sample) => sample.callsPerScript)),
        },
      ]),
    );
    const lone = await loneCallLatency(list);

    const rows = list.map(({ name }) => {
      const rates = perCase.get(name);
      return {
        name,
        opsPerSec: Math.round(median(rates)),
        range: `${formatRate(Math.min(...rates))} – ${formatRate(Math.max(...rates))}`,
        vsRateLimiterRedis: formatRatio(medianRatio(perCase, name, RLR)),
        vsIncr: formatRatio(medianRatio(perCase, name, INCR)),
        callsPerScriptCall: Number.isNaN(cpu.get(name).callsPerScript)
          ? '–'
          : cpu.get(name).callsPerScript.toFixed(1),
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
    if (cpu.has(ONE)) {
      const redisMicros = cpu.get(ONE).redis;
      targets.push({
        name: 'Redis CPU per decision, fixed window (128 in flight)',
        value: `${redisMicros.toFixed(2)} µs`,
        target: '≤ 4 µs',
        met: redisMicros <= 4,
      });
    }
    if (lone.has(ONE)) {
      const loneMicros = lone.get(ONE);
      targets.push({
        name: 'latency of a lone call, fixed window',
        value: `${loneMicros.toFixed(1)} µs`,
        target: '≤ 140 µs (no worse than before the batching)',
        met: loneMicros <= 140,
      });
    }
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
    }
    if (cpu.has(ONE) && cpu.has(TWO) && cpu.has(BATCHED_COMMANDS)) {
      const extraRedis = cpu.get(TWO).redis - cpu.get(ONE).redis;
      const extraNode = cpu.get(TWO).node - cpu.get(ONE).node;
      notes.push(
        `Two limits vs one: a second limit is a second key with its own GET and SET KEEPTTL. It adds ${extraRedis.toFixed(2)} µs of Redis CPU and ${extraNode.toFixed(2)} µs of Node CPU per call here (two − one); a whole logic-free batched call (its key, GET, SET KEEPTTL, its answer) costs Redis ${cpu.get(BATCHED_COMMANDS).redis.toFixed(2)} µs. ≤ 1.2× allows a second limit ${(0.2 * total(ONE)).toFixed(2)} µs in all (a fifth of a one-limit call's ${total(ONE).toFixed(1)} µs); measured ${total(TWO).toFixed(1)} µs (${(total(TWO) / total(ONE)).toFixed(2)}×).`,
      );
      if (cpu.has(STORE_ALONE) && cpu.has(STORE_ALONE_TWO)) {
        // The store's own share of the second limit's Node CPU (key, descriptor, outcome); the rest
        // of the Node difference is the engine's (a check, a decision, an insurance record per limit).
        const storeNode = cpu.get(STORE_ALONE_TWO).node - cpu.get(STORE_ALONE).node;
        notes.push(
          `Of the second limit's Node CPU, the store (RedisStore.evaluate alone, two − one) takes ${storeNode.toFixed(2)} µs, the engine above it ${(extraNode - storeNode).toFixed(2)} µs.`,
        );
      }
    }
    if (perCase.has(ONE) && perCase.has(STORE_ALONE) && perCase.has(BATCHED_COMMANDS)) {
      const layer = (name) =>
        `${formatRatio(medianRatio(perCase, name, INCR))} INCR, ${formatRatio(medianRatio(perCase, name, RLR))} RateLimiterRedis`;
      notes.push(
        `Where a decision's time goes, layer by layer (ops/s ratios within each round): logic-free batches of GET + SET KEEPTTL ${layer(BATCHED_COMMANDS)}; the store alone (our script and batching, no engine, no outage policy) ${layer(STORE_ALONE)}; ours through createRateLimiter (engine, decision, outage policy with its insurance record of every admission) ${layer(ONE)}.`,
      );
    }
    if (perCase.has(ONE) && perCase.has(CONCURRENCY)) {
      notes.push(
        `Concurrency limit (acquire+release) vs fixed window: ${formatRatio(medianRatio(perCase, ONE, CONCURRENCY))} the cost per call (fixed window ops/s ÷ its ops/s, median of rounds). Its operation is \`consume(subject)\` then \`decision.release()\`: two script calls (the lease is taken, then removed), batched with the other calls of their tick, \`ConcurrencyLimit({ maxConcurrent: 10_000 })\`, so a list of one lease or none${cpu.has(CONCURRENCY) ? `; ${total(CONCURRENCY).toFixed(1)} µs Node + Redis CPU per operation vs ${total(ONE).toFixed(1)} µs` : ''}.`,
      );
    }
    return {
      title: 'Redis store (issues 5 and 18)',
      intro: [
        `All cases share one node-redis connection to ${server === undefined ? redisUrl : 'a redis-server the benchmark starts for itself (no persistence, no other client)'} and keep ${IN_FLIGHT} calls in flight (batches of ${IN_FLIGHT} concurrent calls, \`Promise.all\`), over ${SUBJECT_COUNT.toLocaleString('en-US')} subjects in turn.`,
        `Ours: \`createRateLimiter({ limits, store: new RedisStore({ client }) }).consume(subject)\` from the built package (dist): the calls of a tick share one EVALSHA (up to 128 calls and 256 limits), Redis server time, outage policy (with its insurance record) included. Peer: rate-limiter-flexible \`RateLimiterRedis.consume(subject)\` (\`useRedisPackage: true\`). Floor: \`client.incr(key)\`, one plain round trip.`,
        `Limits nobody reaches (${HIGH.toLocaleString('en-US')} per ${WINDOW_SECONDS} s). Every round uses fresh keys, touches every subject once (untimed), then times ${OPS_PER_ROUND.toLocaleString('en-US')} calls. ${WARMUP_ROUNDS} warm-up + ${ROUNDS} measured rounds, case order rotating; medians over rounds, ratios computed within each round.`,
        `Two reference scripts show what a one-EVALSHA fixed window must pay on this Redis before any logic: the same call shape running an empty script, and one running only TIME, GET and SET KEEPTTL. Two more rows split our cost by layer: \`RedisStore.evaluate\` called directly (checks made once: no engine, no outage policy), and logic-free batches (the calls of a tick, ${BATCH} per EVALSHA of a script doing GET + SET KEEPTTL per call, one promise per call in Node), what any batched GET/SET design reaches. CPU per call (Redis: the server process from \`INFO cpu\`; Node: \`process.cpuUsage()\`) and calls per script call (\`INFO commandstats\`) are read around every timed run of the same rounds, medians over rounds; CPU depends less than ops/s on other load on the machine. Lone-call latency: calls awaited one after the other (one in flight), mean per round, rounds alternating the cases, median.`,
      ],
      rows,
      columns: [
        'name',
        'opsPerSec',
        'range',
        'vsRateLimiterRedis',
        'vsIncr',
        'callsPerScriptCall',
        'redisCpuPerCall',
        'nodeCpuPerCall',
        'loneCallLatency',
      ],
      targets,
      notes,
    };
  } finally {
    await client.close();
    await server?.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { renderSection } = await import('./lib/report.mjs');
  const { normalizeSection } = await import('./lib/report.mjs');
  console.log(renderSection(normalizeSection(await run(), 'Redis store (issues 5 and 18)')));
}

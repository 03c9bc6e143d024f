// Core micro-benchmarks (issue 3): one check through createRateLimiter(...).consume(subject) for
// each algorithm on the MemoryStore, a two-limit check and a denied check, side by side in the same
// rounds with rate-limiter-flexible's RateLimiterMemory.consume, @nestjs/throttler's in-memory
// ThrottlerStorageService.increment and a bare Map counter behind an await (the floor).
//
// Run alone: node bench/core.bench.mjs (after npm run build). `npm run bench` runs it in a child.
//
// The rounds are spread over BENCH_CORE_PROCESSES fresh processes, one after the other: how V8
// compiles a hot path depends on what it saw first, so one process of the same code can run ours a
// tenth faster or slower than another for its whole life. One process must not decide a ratio.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
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
const {
  ConcurrencyLimit,
  createRateLimiter,
  FixedWindowRateLimit,
  GcraRateLimit,
  MemoryStore,
  SlidingWindowRateLimit,
  TokenBucketRateLimit,
} = await importPackage();
const { RateLimiterMemory } = require('rate-limiter-flexible');
const { ThrottlerStorageService } = require('@nestjs/throttler');

const SUBJECT_COUNT = 1_000;
const OPS_PER_ROUND = Number(process.env.BENCH_CORE_OPS ?? 100_000);
const WARMUP_ROUNDS = Number(process.env.BENCH_CORE_WARMUP ?? 3);
/** Measured rounds in each process, and how many processes. */
const ROUNDS = Number(process.env.BENCH_CORE_ROUNDS ?? 6);
const PROCESSES = Number(process.env.BENCH_CORE_PROCESSES ?? 5);
/** Set in the processes this one starts: measure, print the rounds as JSON, stop. */
const IN_CHILD = process.env.BENCH_CORE_CHILD === '1';
const IN_FLIGHT = 100;
// Windows long enough that no round crosses into a fresh state by accident.
const WINDOW_SECONDS = 3_600;
const HIGH = 1_000_000_000;

const subjects = Array.from({ length: SUBJECT_COUNT }, (_, index) => `user:${100_000 + index}`);

/** How to release what an operation's instance holds (timers, state), by operation. */
const releases = new WeakMap();

/**
 * Touch every subject once with a fresh instance's operation (untimed), return the operation.
 * @param release frees the instance after the timed run: every instance here keeps itself alive
 *   through a timer (a sweep interval, a timeout per key), so without it every round's instances
 *   would stay on the heap for the hour of their windows and weigh on every later case.
 */
async function prepared(consume, release) {
  for (const subject of subjects) {
    try {
      await consume(subject);
    } catch {
      // Peers reject on denial; the pre-touch only fills state.
    }
  }
  releases.set(consume, release);
  return consume;
}

/** Release the instance behind an operation (the harness calls it after the timed run). */
function release(op) {
  return releases.get(op)?.();
}

/** RateLimiterMemory has no close(): deleting each key clears its timeout. */
function releaseRateLimiterMemory(limiter) {
  return () => Promise.all(subjects.map((subject) => limiter.delete(subject)));
}

/**
 * `(limiter) => (subject) => limiter.consume(subject)`, compiled anew for each case (as the timing
 * loops are): one shared arrow would make its `consume` call site see every case's limiter, so
 * each case would measure a call site that no application has (one that calls several kinds of
 * limiter), and V8 would inline none of them.
 */
function consumeCallSite() {
  return new Function('limiter', 'return (subject) => limiter.consume(subject);');
}

function ours(limits) {
  const callOf = consumeCallSite();
  return () => {
    const store = new MemoryStore();
    const limiter = createRateLimiter({ limits: limits(), store, name: 'bench' });
    return prepared(callOf(limiter), () => store.close());
  };
}

/** A call that takes a concurrency slot and gives it back: `consume`, then `decision.release()`. */
function oursAcquireRelease(limits) {
  const callOf = new Function(
    'limiter',
    'return async (subject) => { const decision = await limiter.consume(subject); await decision.release(); return decision; };',
  );
  return () => {
    const store = new MemoryStore();
    const limiter = createRateLimiter({ limits: limits(), store, name: 'bench' });
    return prepared(callOf(limiter), () => store.close());
  };
}

function oursDenied() {
  return async () => {
    const store = new MemoryStore();
    const limiter = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: WINDOW_SECONDS })],
      store,
      name: 'test',
    });
    const op = await prepared((subject) => limiter.consume(subject));
    const denied = async (subject) => {
      const decision = await op(subject);
      if (decision.allowed) throw new Error('ours (denied): a call was admitted');
    };
    releases.set(denied, () => store.close());
    return denied;
  };
}

function rateLimiterMemory(points) {
  const callOf = consumeCallSite();
  return () => {
    const limiter = new RateLimiterMemory({ points, duration: WINDOW_SECONDS });
    return prepared(callOf(limiter), releaseRateLimiterMemory(limiter));
  };
}

function rateLimiterMemoryDenied() {
  return async () => {
    const limiter = new RateLimiterMemory({ points: 1, duration: WINDOW_SECONDS });
    await prepared((subject) => limiter.consume(subject));
    const denied = async (subject) => {
      try {
        await limiter.consume(subject);
      } catch {
        return; // denied, as expected
      }
      throw new Error('RateLimiterMemory (denied): a call was admitted');
    };
    releases.set(denied, releaseRateLimiterMemory(limiter));
    return denied;
  };
}

function throttler(limit) {
  return () => {
    const storage = new ThrottlerStorageService();
    // The guard passes milliseconds (ttl, blockDuration) and the throttler's name.
    return prepared(
      (subject) => storage.increment(subject, WINDOW_SECONDS * 1000, limit, 0, 'default'),
      () => storage.onApplicationShutdown(),
    );
  };
}

function throttlerDenied() {
  return async () => {
    const storage = new ThrottlerStorageService();
    const increment = (subject) =>
      storage.increment(subject, WINDOW_SECONDS * 1000, 1, 0, 'default');
    await prepared(increment);
    const denied = async (subject) => {
      const record = await increment(subject);
      if (!record.isBlocked)
        throw new Error('ThrottlerStorageService (denied): a call was admitted');
    };
    releases.set(denied, () => storage.onApplicationShutdown());
    return denied;
  };
}

function bareMap() {
  return () => {
    const counts = new Map();
    const increment = async (subject) => {
      const count = (counts.get(subject) ?? 0) + 1;
      counts.set(subject, count);
      return count;
    };
    return prepared(increment);
  };
}

/**
 * A reference, not a product: the least a fixed window can do per call, written by hand as one
 * closure. It reads a monotonic clock (as ours does, from node:perf_hooks: the global `performance`
 * is a lazy accessor that costs a getter call per read), finds the subject's slot in a Map, updates
 * two numbers in a Float64Array and resolves a fresh decision object. No engine, no store
 * interface, no validation. Measured beside ours, it shows how much of a call the layers cost and
 * how fast any fixed window with a per-call clock can be on this machine.
 */
function handWrittenFixedWindow() {
  class Decision {
    constructor(allowed, retryAfter, remaining, resetAfterMs) {
      this.allowed = allowed;
      this.retryAfter = retryAfter;
      this.remaining = remaining;
      this.resetAfterMs = resetAfterMs;
    }
  }
  return () => {
    const anchorMs = Date.now() - performance.now();
    const limit = HIGH;
    const periodMs = WINDOW_SECONDS * 1000;
    const slots = new Map();
    // Per slot: window start, count.
    let records = new Float64Array(2 * SUBJECT_COUNT);
    const consume = (subject) => {
      const nowMs = anchorMs + performance.now();
      let slot = slots.get(subject);
      if (slot === undefined) {
        slot = slots.size;
        slots.set(subject, slot);
        if (2 * slot >= records.length) {
          const grown = new Float64Array(2 * records.length);
          grown.set(records);
          records = grown;
        }
        records[2 * slot] = -1;
      }
      const windowStartMs = Math.floor(nowMs / periodMs) * periodMs;
      const count = records[2 * slot] === windowStartMs ? records[2 * slot + 1] : 0;
      const resetAfterMs = windowStartMs + periodMs - nowMs;
      if (count + 1 > limit) {
        return Promise.resolve(
          new Decision(false, Math.ceil(resetAfterMs / 1000), limit - count, resetAfterMs),
        );
      }
      records[2 * slot] = windowStartMs;
      records[2 * slot + 1] = count + 1;
      return Promise.resolve(new Decision(true, null, limit - count - 1, resetAfterMs));
    };
    return prepared(consume);
  };
}

const fixedWindow = () => [
  new FixedWindowRateLimit({ maxCalls: HIGH, perSeconds: WINDOW_SECONDS }),
];
const slidingWindow = () => [
  // Exact sliding window state grows with the calls inside the window (bounded by maxCalls).
  // Its largest quota (10 000): a subject gets far fewer calls in a run, so none is denied.
  new SlidingWindowRateLimit({ maxCalls: 10_000, perSeconds: WINDOW_SECONDS }),
];
const tokenBucket = () => [new TokenBucketRateLimit({ capacity: HIGH, refillPerSecond: 1_000 })];
const gcra = () => [new GcraRateLimit({ ratePerSecond: 1_000_000, burst: HIGH })];
const twoLimits = () => [
  new FixedWindowRateLimit({ maxCalls: HIGH, perSeconds: 60 * 60 }),
  new FixedWindowRateLimit({ maxCalls: HIGH, perSeconds: 24 * 60 * 60 }),
];

// A slot per call, released before the subject's next call: the state stays at one lease or none.
const concurrencyLimit = () => [new ConcurrencyLimit({ maxConcurrent: 10_000 })];
const CONCURRENCY = 'ours: concurrency limit (acquire+release)';

const SEQUENTIAL = 'sequential';
const CONCURRENT = { inFlight: IN_FLIGHT };

const CASES = [
  ['ours: fixed window', ours(fixedWindow), SEQUENTIAL],
  ['ours: sliding window', ours(slidingWindow), SEQUENTIAL],
  ['ours: token bucket', ours(tokenBucket), SEQUENTIAL],
  ['ours: GCRA', ours(gcra), SEQUENTIAL],
  ['ours: two fixed windows', ours(twoLimits), SEQUENTIAL],
  ['ours: fixed window, denied', oursDenied(), SEQUENTIAL],
  [CONCURRENCY, oursAcquireRelease(concurrencyLimit), SEQUENTIAL],
  ['RateLimiterMemory.consume', rateLimiterMemory(HIGH), SEQUENTIAL],
  ['RateLimiterMemory.consume, denied', rateLimiterMemoryDenied(), SEQUENTIAL],
  ['ThrottlerStorageService.increment', throttler(HIGH), SEQUENTIAL],
  ['ThrottlerStorageService.increment, denied', throttlerDenied(), SEQUENTIAL],
  ['bare Map counter behind await', bareMap(), SEQUENTIAL],
  ['reference: hand-written fixed window closure', handWrittenFixedWindow(), SEQUENTIAL],
  [`ours: fixed window, ${IN_FLIGHT} in flight`, ours(fixedWindow), CONCURRENT],
  [`ours: two fixed windows, ${IN_FLIGHT} in flight`, ours(twoLimits), CONCURRENT],
  [`RateLimiterMemory.consume, ${IN_FLIGHT} in flight`, rateLimiterMemory(HIGH), CONCURRENT],
  [`ThrottlerStorageService.increment, ${IN_FLIGHT} in flight`, throttler(HIGH), CONCURRENT],
  [`bare Map counter, ${IN_FLIGHT} in flight`, bareMap(), CONCURRENT],
]
  .map(([name, setup, mode]) => ({
    name,
    setup,
    dispose: release,
    mode,
    subjects,
    ops: OPS_PER_ROUND,
  }))
  // BENCH_CORE_ONLY=<regexp> keeps only the matching cases (when investigating; ratios need both sides).
  .filter(({ name }) => new RegExp(process.env.BENCH_CORE_ONLY ?? '').test(name));

/** This process's rounds: case name → ops/s of each measured round. */
function measureHere() {
  return measureRounds(CASES, {
    warmupRounds: WARMUP_ROUNDS,
    rounds: ROUNDS,
    onRound: (round, warmup) =>
      log(
        `  core: ${round < warmup ? 'warm-up' : 'round'} ${round < warmup ? round + 1 : round - warmup + 1} done`,
      ),
  });
}

/** Run this file in child mode; resolves to what it printed (its progress goes to our stderr). */
function runChild() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
      env: { ...process.env, BENCH_CORE_CHILD: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`core bench child exited with ${code}`)),
    );
  });
}

/** The rounds of PROCESSES fresh processes (this file, in child mode), in process order. */
async function measureInProcesses() {
  const perCase = new Map(CASES.map(({ name }) => [name, []]));
  for (let index = 0; index < PROCESSES; index++) {
    const stdout = await runChild();
    for (const [name, rates] of Object.entries(JSON.parse(stdout))) {
      perCase.get(name).push(...rates);
    }
    log(`  core: process ${index + 1} of ${PROCESSES} done`);
  }
  return perCase;
}

export async function run() {
  log(
    `core: ${CASES.length} cases; ${PROCESSES} processes, each ${WARMUP_ROUNDS} warm-up + ${ROUNDS} rounds of ${OPS_PER_ROUND} ops`,
  );
  const perCase = PROCESSES > 1 ? await measureInProcesses() : await measureHere();

  const rlm = 'RateLimiterMemory.consume';
  const thr = 'ThrottlerStorageService.increment';
  const rateRows = CASES.map(({ name }) => {
    const rates = perCase.get(name);
    return [
      name,
      formatRate(median(rates)),
      `${formatRate(Math.min(...rates))} – ${formatRate(Math.max(...rates))}`,
    ];
  });

  const vs = (name, peerRlm, peerThr) => [
    name,
    formatRatio(medianRatio(perCase, name, peerRlm)),
    formatRatio(medianRatio(perCase, name, peerThr)),
  ];
  const ratioRows = [
    vs('ours: fixed window', rlm, thr),
    vs('ours: sliding window', rlm, thr),
    vs('ours: token bucket', rlm, thr),
    vs('ours: GCRA', rlm, thr),
    vs('ours: two fixed windows', rlm, thr),
    vs('ours: fixed window, denied', `${rlm}, denied`, `${thr}, denied`),
    vs('bare Map counter behind await', rlm, thr),
    vs('reference: hand-written fixed window closure', rlm, thr),
    vs(
      `ours: fixed window, ${IN_FLIGHT} in flight`,
      `${rlm}, ${IN_FLIGHT} in flight`,
      `${thr}, ${IN_FLIGHT} in flight`,
    ),
    vs(
      `bare Map counter, ${IN_FLIGHT} in flight`,
      `${rlm}, ${IN_FLIGHT} in flight`,
      `${thr}, ${IN_FLIGHT} in flight`,
    ),
  ];

  const fixedVsRlm = medianRatio(perCase, 'ours: fixed window', rlm);
  // Cost of a two-limit call relative to a one-limit call = (one-limit ops/s) / (two-limit ops/s).
  const twoVsOne = medianRatio(perCase, 'ours: fixed window', 'ours: two fixed windows');
  // What a concurrency limit's call (acquire, then release) costs next to a fixed window's call.
  const concurrencyVsFixed = medianRatio(perCase, 'ours: fixed window', CONCURRENCY);
  const twoVsOneConcurrent = medianRatio(
    perCase,
    `ours: fixed window, ${IN_FLIGHT} in flight`,
    `ours: two fixed windows, ${IN_FLIGHT} in flight`,
  );
  // The in-memory decision is a small share of an MCP request (the guard's whole time is a few µs
  // of ~600 µs): the targets ask for a clear lead over the usual peer and a second limit that costs
  // less than a second call, not for the last nanosecond.
  const targets = [
    {
      name: 'fixed window vs RateLimiterMemory (ops/s ratio)',
      value: formatRatio(fixedVsRlm),
      target: '≥ 1.30×',
      met: fixedVsRlm >= 1.3,
    },
    {
      name: 'cost of two limits vs one (sequential)',
      value: formatRatio(twoVsOne),
      target: '≤ 1.60×',
      met: twoVsOne <= 1.6,
    },
    {
      name: `cost of two limits vs one (${IN_FLIGHT} in flight)`,
      value: formatRatio(twoVsOneConcurrent),
      target: '≤ 1.60×',
      met: twoVsOneConcurrent <= 1.6,
    },
  ];

  return {
    title: 'Core micro-benchmarks (MemoryStore, issue 3)',
    intro: [
      `Each operation decides one call of one subject, taken in turn from a rotating set of ${SUBJECT_COUNT.toLocaleString('en-US')} subjects.`,
      `Ours: \`createRateLimiter({ limits, store: new MemoryStore() }).consume(subject)\` from the built package (dist). Peers: rate-limiter-flexible \`RateLimiterMemory.consume(subject)\` and @nestjs/throttler \`ThrottlerStorageService.increment(subject, ttl, limit, 0, 'default')\`, with their default options; a bare \`Map\` counter in an async function is the floor.`,
      `Allowed rows use limits nobody reaches (${HIGH.toLocaleString('en-US')} per ${WINDOW_SECONDS} s); denied rows use a limit of 1, already used up. Every round builds fresh instances, touches every subject once (untimed), then times ${OPS_PER_ROUND.toLocaleString('en-US')} operations (${OPS_PER_ROUND / SUBJECT_COUNT} per subject), either one \`await\` after another or in batches of ${IN_FLIGHT} concurrent calls (\`Promise.all\`), then releases the instance (its timers and state), so that no case runs in a heap that earlier rounds filled. Each case has call sites of its own (its timing loop, its \`consume\` call), as each limiter in an application has.`,
      `${PROCESSES} fresh processes one after the other, each ${WARMUP_ROUNDS} warm-up rounds, then ${ROUNDS} measured rounds (${PROCESSES * ROUNDS} in all); the order of the cases rotates every round. Figures are medians over all rounds; a ratio is computed within each round (both sides measured seconds apart) and the median of those is reported. Fresh processes, because V8 compiles a hot path after what it saw first: one process of the same code can run ours a tenth faster or slower than the next for its whole life.`,
    ],
    tables: [
      {
        title: 'Throughput',
        columns: ['case', 'ops/s (median)', 'range over rounds'],
        rows: rateRows,
      },
      {
        title: 'Concurrency limit vs fixed window (cost per call, lower is cheaper)',
        columns: ['case', 'fixed window ops/s ÷ its ops/s (median of rounds)'],
        rows: [
          ['concurrency limit (acquire+release) vs fixed window', formatRatio(concurrencyVsFixed)],
        ],
      },
      {
        title: 'Ratios (ops/s, higher is faster)',
        columns: ['case', 'vs RateLimiterMemory', 'vs ThrottlerStorageService'],
        rows: ratioRows,
      },
    ],
    targets,
    notes: [
      `Per-round ratios, in round order (${ROUNDS} rounds per process, the processes in order). Fixed window vs RateLimiterMemory: ${perRoundRatios(perCase, 'ours: fixed window', rlm)}; the median of each process: ${perProcessMedians(perCase, 'ours: fixed window', rlm)}. Reference vs RateLimiterMemory: ${perRoundRatios(perCase, 'reference: hand-written fixed window closure', rlm)}. Two limits vs one (sequential): ${perRoundRatios(perCase, 'ours: fixed window', 'ours: two fixed windows')}.`,
      'The exact sliding window keeps one timestamp per admitted call inside the window (bounded by maxCalls), and ThrottlerStorageService keeps one expiry per hit: both cost more as a subject accumulates calls in its window; at the end of a round each subject has about ' +
        `${OPS_PER_ROUND / SUBJECT_COUNT + 1} calls in its window.`,
      `The concurrency limit's operation is \`consume(subject)\` then \`decision.release()\` (two store steps: the lease is taken, then removed), with \`ConcurrencyLimit({ maxConcurrent: 10_000 })\`, so its state is one lease or none; the fixed window's is one \`consume\`. Per round: ${perRoundRatios(perCase, 'ours: fixed window', CONCURRENCY)}.`,
      'ThrottlerStorageService is driven directly with the subject as its key; the ThrottlerGuard would also hash the key (sha256) per call, which is not measured here.',
    ],
  };
}

/** The ratio numerator/denominator of every round, formatted (`n/a` when a case was filtered out). */
function perRoundRatios(perCase, numerator, denominator) {
  const a = perCase.get(numerator);
  const b = perCase.get(denominator);
  if (a === undefined || b === undefined) return 'n/a';
  return a.map((value, round) => (value / b[round]).toFixed(2)).join(', ');
}

/** The median ratio numerator/denominator within each process's rounds, formatted. */
function perProcessMedians(perCase, numerator, denominator) {
  const a = perCase.get(numerator);
  const b = perCase.get(denominator);
  if (a === undefined || b === undefined) return 'n/a';
  const ratios = a.map((value, round) => value / b[round]);
  return Array.from({ length: ratios.length / ROUNDS }, (_, index) =>
    median(ratios.slice(index * ROUNDS, (index + 1) * ROUNDS)).toFixed(2),
  ).join(', ');
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (IN_CHILD) {
    console.log(JSON.stringify(Object.fromEntries(await measureHere())));
  } else {
    const { renderSection } = await import('./lib/report.mjs');
    console.log(renderSection(await run()));
  }
}

import { afterAll, beforeAll, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { refundAlgorithm, runAlgorithm } from '../../src/core/algorithms/index.js';
import {
  ConcurrencyLimit,
  FixedWindowRateLimit,
  GcraRateLimit,
  SlidingWindowRateLimit,
  TokenBucketRateLimit,
  type BuiltInRateLimit,
} from '../../src/core/limits.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import type { LimitCheck, LimitOutcome } from '../../src/core/stores/store.js';
import { CLIENT_LIBRARIES, connectClient, uniqueSubject, type TestClient } from './clients.js';
import { REDIS_URL, redisDescribe } from './redis-available.js';

const describeRedis = await redisDescribe('RedisStore: Lua twins vs TypeScript algorithms');

// Random limits with awkward floating-point parameters (fractional windows and rates).
const limitArbitrary: fc.Arbitrary<BuiltInRateLimit> = fc.oneof(
  fc
    .record({
      maxCalls: fc.integer({ min: 1, max: 10 }),
      perSeconds: fc.double({ min: 0.001, max: 50, noNaN: true }),
    })
    .map((options) => new FixedWindowRateLimit(options)),
  fc
    .record({
      maxCalls: fc.integer({ min: 1, max: 10 }),
      perSeconds: fc.double({ min: 0.001, max: 50, noNaN: true }),
    })
    .map((options) => new SlidingWindowRateLimit(options)),
  fc
    .record({
      capacity: fc.double({ min: 0.5, max: 10, noNaN: true }),
      refillPerSecond: fc.double({ min: 0.01, max: 50, noNaN: true }),
    })
    .map((options) => new TokenBucketRateLimit(options)),
  fc
    .record({
      ratePerSecond: fc.double({ min: 0.01, max: 50, noNaN: true }),
      burst: fc.integer({ min: 1, max: 10 }),
    })
    .map((options) => new GcraRateLimit(options)),
  fc
    .record({
      maxConcurrent: fc.integer({ min: 1, max: 10 }),
      leaseSeconds: fc.double({ min: 1, max: 50, noNaN: true }),
    })
    .map((options) => new ConcurrencyLimit(options)),
);

const advanceArbitrary = fc.oneof(
  fc.constant(0),
  fc.double({ min: 0, max: 5, noNaN: true }),
  fc.double({ min: 0, max: 3000, noNaN: true }),
  fc.integer({ min: 0, max: 60_000 }),
);

interface Step {
  readonly advanceMs: number;
  /** Which limits take part in this call (at least one). */
  readonly mask: readonly boolean[];
  /** The raw cost drawn for each limit; integer limits round it. */
  readonly costs: readonly number[];
  /** What the call does: evaluate (commit when all allow), refund, or peek. */
  readonly op: 'evaluate' | 'refund' | 'peek';
  readonly admission: number;
}

/**
 * Calls against `minLimits`..`maxLimits` limits; each call uses a random subset of them, or, when
 * `allOften`, all of them half the time.
 */
const scenarioArbitrary = (minLimits: number, maxLimits: number, allOften: boolean) =>
  fc.array(limitArbitrary, { minLength: minLimits, maxLength: maxLimits }).chain((limits) =>
    fc.record({
      limits: fc.constant(limits),
      startMs: fc.double({ min: 1.7e12, max: 1.7e12 + 1e7, noNaN: true }),
      steps: fc.array(
        fc.record({
          advanceMs: advanceArbitrary,
          mask: fc.oneof(
            fc.array(fc.boolean(), { minLength: limits.length, maxLength: limits.length }),
            ...(allOften ? [fc.constant(limits.map(() => true))] : []),
          ),
          costs: fc.array(
            fc.oneof(fc.integer({ min: 0, max: 12 }), fc.double({ min: 0, max: 12, noNaN: true })),
            { minLength: limits.length, maxLength: limits.length },
          ),
          op: fc.constantFrom('evaluate', 'evaluate', 'evaluate', 'refund', 'peek'),
          // A refund undoes an earlier admission (picked by this index among those made), or,
          // when there is none, an admission taken as now.
          admission: fc.nat(),
        }),
        { minLength: 1, maxLength: 30 },
      ),
    }),
  );

/** The TypeScript algorithms, all-or-nothing, state kept (the Lua twins keep it past its TTL too). */
function reference(
  states: Map<string, unknown>,
  checks: readonly LimitCheck[],
  nowMs: number,
  op: Step['op'] = 'evaluate',
): LimitOutcome[] {
  if (op === 'refund') {
    for (const check of checks) {
      const refunded = refundAlgorithm(
        check.limit,
        states.get(check.key),
        nowMs,
        check.cost,
        check.admittedAtMs,
      );
      if (refunded !== undefined) states.set(check.key, refunded.state);
    }
    return [];
  }
  const steps = checks.map((check) =>
    runAlgorithm(check.limit, states.get(check.key), nowMs, check.cost),
  );
  if (op === 'evaluate' && steps.every((step) => step.allowed)) {
    checks.forEach((check, index) => states.set(check.key, steps[index].state));
  }
  return steps.map(({ allowed, retryAfterMs, remaining, resetAfterMs }) => ({
    allowed,
    retryAfterMs,
    remaining,
    resetAfterMs,
    atMs: nowMs,
  }));
}

function costFor(limit: BuiltInRateLimit, raw: number): number {
  const integer =
    limit.algorithm === 'fixed-window' ||
    limit.algorithm === 'sliding-window' ||
    limit.algorithm === 'concurrency';
  return integer ? Math.round(raw) : raw;
}

describeRedis.each(CLIENT_LIBRARIES)('RedisStore Lua twins vs TypeScript (%s)', (library) => {
  let connection: TestClient;
  let nowMs = 0;
  let store: RedisStore;

  beforeAll(async () => {
    connection = await connectClient(library, REDIS_URL);
    // Keys outlive the test in real time, so Redis never drops a state the reference still has.
    store = new RedisStore({ client: connection.client, clock: () => nowMs, extraTtlMs: 600_000 });
  });
  afterAll(async () => {
    for (let index = 0; index < keysUsed.length; index += 500) {
      await connection.command(['DEL', ...keysUsed.slice(index, index + 500)]);
    }
    await store?.close();
    await connection?.quit();
  });

  let run = 0;
  const keysUsed: string[] = [];

  /** Every step's outcomes from RedisStore equal the TypeScript algorithms' (all-or-nothing). */
  function identicalOutcomes(
    minLimits: number,
    maxLimits: number,
    allOften: boolean,
    numRuns: number,
  ) {
    return fc.assert(
      fc.asyncProperty(
        scenarioArbitrary(minLimits, maxLimits, allOften),
        async ({ limits, startMs, steps }) => {
          const subject = uniqueSubject(`diff-${run++}`);
          const keys = limits.map((_, index) => `mcprl-test:{${subject}}${index}`);
          keysUsed.push(...keys);
          const states = new Map<string, unknown>();
          // The times of the admissions made so far, for refunds to name.
          const admittedAt: number[] = [];
          nowMs = startMs;
          for (const step of steps as Step[]) {
            nowMs += step.advanceMs;
            const admittedAtMs =
              step.op === 'refund' && admittedAt.length > 0
                ? admittedAt[step.admission % admittedAt.length]
                : undefined;
            const checks: LimitCheck[] = [];
            limits.forEach((limit, index) => {
              if (step.mask[index] || (index === 0 && !step.mask.includes(true))) {
                const cost = costFor(limit, step.costs[index]);
                checks.push({ key: keys[index], limit, cost, admittedAtMs });
              }
            });
            const expected = reference(states, checks, nowMs, step.op);
            const actual =
              step.op === 'refund'
                ? (await store.refund(checks), [])
                : step.op === 'peek'
                  ? await store.peek(checks)
                  : await store.evaluate(checks);
            expect(actual).toEqual(expected);
            if (step.op === 'evaluate' && expected.every((outcome) => outcome.allowed)) {
              admittedAt.push(nowMs);
            }
          }
        },
      ),
      { numRuns },
    );
  }

  test('random calls (evaluate, refund, peek), costs and clock advances give identical outcomes', async () => {
    await identicalOutcomes(1, 3, false, 300);
  });

  // More than 8 limits in one call take the script's table-based path (see redisScript).
  test('calls with many limits (up to 12) give identical outcomes too', async () => {
    await identicalOutcomes(9, 12, true, 40);
  });
});

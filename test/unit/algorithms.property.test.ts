import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { concurrency } from '../../src/core/algorithms/concurrency.js';
import { fixedWindow } from '../../src/core/algorithms/fixed-window.js';
import { gcra } from '../../src/core/algorithms/gcra.js';
import { slidingWindow } from '../../src/core/algorithms/sliding-window.js';
import { tokenBucket } from '../../src/core/algorithms/token-bucket.js';
import { EPSILON_MS, type AlgorithmStep } from '../../src/core/algorithms/types.js';

type Algorithm = (
  state: unknown,
  nowMs: number,
  params: unknown,
  cost: number,
) => AlgorithmStep<unknown>;

interface Admitted {
  readonly atMs: number;
  readonly cost: number;
}

/** Random calls: each waits `advanceMs` after the previous one and costs `cost`. */
const calls = (maxCost: number) =>
  fc.array(
    fc.record({
      advanceMs: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 0, max: 5_000 }),
      ),
      cost: fc.integer({ min: 0, max: maxCost }),
    }),
    { minLength: 1, maxLength: 200 },
  );

/** Run calls through an algorithm, committing like a store; return what was admitted. */
function drive(
  algorithm: Algorithm,
  params: unknown,
  sequence: readonly { advanceMs: number; cost: number }[],
  startMs: number,
  onStep?: (
    step: AlgorithmStep<unknown>,
    nowMs: number,
    cost: number,
    stateBefore: unknown,
  ) => void,
): Admitted[] {
  let state: unknown;
  let expiresAtMs = -Infinity;
  let nowMs = startMs;
  const admitted: Admitted[] = [];
  for (const { advanceMs, cost } of sequence) {
    nowMs += advanceMs;
    const stateBefore = nowMs < expiresAtMs ? state : undefined;
    const step = algorithm(stateBefore, nowMs, params, cost);
    onStep?.(step, nowMs, cost, stateBefore);
    if (step.allowed) {
      state = step.state;
      expiresAtMs = nowMs + step.ttlMs;
      if (cost > 0) admitted.push({ atMs: nowMs, cost });
    }
  }
  return admitted;
}

/** The most units admitted in any interval [t, t + lengthMs) that starts at an admission. */
function busiestInterval(admitted: readonly Admitted[], lengthMs: number): number {
  let most = 0;
  for (const first of admitted) {
    let sum = 0;
    for (const other of admitted)
      if (other.atMs >= first.atMs && other.atMs < first.atMs + lengthMs) sum += other.cost;
    most = Math.max(most, sum);
  }
  return most;
}

/**
 * The retryAfter contract, for every denial: waiting exactly retryAfterMs (nobody else calling)
 * admits the same call, and waiting 1 ms less does not.
 */
function checkRetryAfterIsEarliest(algorithm: Algorithm, params: unknown, capacity: number) {
  return (step: AlgorithmStep<unknown>, nowMs: number, cost: number, stateBefore: unknown) => {
    if (step.allowed || cost > capacity) return;
    expect(step.retryAfterMs).toBeGreaterThan(0);
    expect(algorithm(stateBefore, nowMs + step.retryAfterMs, params, cost).allowed).toBe(true);
    if (step.retryAfterMs > 1) {
      expect(algorithm(stateBefore, nowMs + step.retryAfterMs - 1, params, cost).allowed).toBe(
        false,
      );
    }
  };
}

/**
 * Between any two admissions (both included), at most `quota + rate × elapsed` units, give or take
 * the 1 µs of refill that EPSILON_MS lets a call be early by.
 */
function expectRateBound(
  admitted: readonly Admitted[],
  quota: number,
  ratePerSecond: number,
): void {
  const slack = (ratePerSecond * EPSILON_MS) / 1000 + 1e-9;
  for (const first of admitted) {
    let units = 0;
    for (const last of admitted) {
      if (last.atMs < first.atMs) continue;
      units += last.cost;
      expect(units).toBeLessThanOrEqual(
        quota + (ratePerSecond * (last.atMs - first.atMs)) / 1000 + slack,
      );
    }
  }
}

const startMs = fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 });

describe('algorithms never admit more than their limit (property-based)', () => {
  it('fixed window: at most maxCalls per clock-aligned window; retryAfter is the earliest admission', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 30 }),
        calls(5),
        startMs,
        (limit, seconds, sequence, start) => {
          const params = { limit, periodMs: seconds * 1000 };
          const admitted = drive(
            fixedWindow as Algorithm,
            params,
            sequence,
            start,
            checkRetryAfterIsEarliest(fixedWindow as Algorithm, params, limit),
          );
          const perWindow = new Map<number, number>();
          for (const { atMs, cost } of admitted) {
            const window = Math.floor(atMs / params.periodMs);
            perWindow.set(window, (perWindow.get(window) ?? 0) + cost);
          }
          for (const used of perWindow.values()) expect(used).toBeLessThanOrEqual(limit);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('sliding window: at most maxCalls in ANY interval of perSeconds; state bounded by maxCalls', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 30 }),
        calls(5),
        startMs,
        (limit, seconds, sequence, start) => {
          const params = { limit, periodMs: seconds * 1000 };
          const retry = checkRetryAfterIsEarliest(slidingWindow as Algorithm, params, limit);
          const admitted = drive(
            slidingWindow as Algorithm,
            params,
            sequence,
            start,
            (step, ...rest) => {
              retry(step, ...rest);
              expect((step.state as number[] | undefined)?.length ?? 0).toBeLessThanOrEqual(limit);
            },
          );
          expect(busiestInterval(admitted, params.periodMs)).toBeLessThanOrEqual(limit);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('token bucket: never below empty; any interval admits at most capacity + rate × length', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.double({ min: 0.05, max: 50, noNaN: true }),
        calls(5),
        startMs,
        (capacity, refillPerSecond, sequence, start) => {
          const params = { capacity, refillPerSecond };
          const retry = checkRetryAfterIsEarliest(tokenBucket as Algorithm, params, capacity);
          const admitted = drive(
            tokenBucket as Algorithm,
            params,
            sequence,
            start,
            (step, ...rest) => {
              retry(step, ...rest);
              const state = step.state as { tokens: number } | undefined;
              if (state !== undefined) expect(state.tokens).toBeGreaterThanOrEqual(0);
            },
          );
          expectRateBound(admitted, capacity, refillPerSecond);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('gcra: the arrival time never falls behind now; any interval admits at most burst + rate × length', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.double({ min: 0.05, max: 50, noNaN: true }),
        calls(5),
        startMs,
        (burst, ratePerSecond, sequence, start) => {
          const params = { emissionIntervalMs: 1000 / ratePerSecond, burst };
          const retry = checkRetryAfterIsEarliest(gcra as Algorithm, params, burst);
          const admitted = drive(
            gcra as Algorithm,
            params,
            sequence,
            start,
            (step, nowMs, ...rest) => {
              retry(step, nowMs, ...rest);
              if (step.allowed && step.state !== undefined)
                expect(step.state as number).toBeGreaterThanOrEqual(nowMs);
            },
          );
          expectRateBound(admitted, burst, ratePerSecond);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('a cost above the whole limit', () => {
  it.each([
    ['fixed window', fixedWindow as Algorithm, { limit: 3, periodMs: 10_000 }, 10_000],
    ['sliding window', slidingWindow as Algorithm, { limit: 3, periodMs: 10_000 }, 10_000],
    ['token bucket', tokenBucket as Algorithm, { capacity: 3, refillPerSecond: 1 }, 3_000],
    ['gcra', gcra as Algorithm, { emissionIntervalMs: 1000, burst: 3 }, 3_000],
    ['concurrency', concurrency as Algorithm, { limit: 3, leaseMs: 10_000 }, 10_000],
  ])(
    '%s: is denied even on a fresh key, with retryAfter of one full period',
    (_name, algorithm, params, periodMs) => {
      const step = algorithm(undefined, 1_700_000_000_000, params, 4);
      expect(step.allowed).toBe(false);
      expect(step.retryAfterMs).toBe(periodMs);
    },
  );
});

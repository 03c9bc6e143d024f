import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { refundAlgorithm, runAlgorithm } from '../../src/core/algorithms/index.js';
import {
  ConcurrencyLimit,
  encodeKeyPart,
  FixedWindowRateLimit,
  GcraRateLimit,
  MemoryStore,
  SlidingWindowRateLimit,
  TokenBucketRateLimit,
  type BuiltInRateLimit,
  type LimitCheck,
  type LimitOutcome,
} from '../../src/index.js';

// The MemoryStore against the pure algorithms: the same calls, the same answers. The reference
// keeps every state forever (an algorithm reads an expired state as no state), so a sweep that
// dropped a live state, a refund or reset that touched the wrong key, or a commit of a denied call
// shows up as a different answer.

const limitArbitrary: fc.Arbitrary<BuiltInRateLimit> = fc.oneof(
  fc
    .record({
      maxCalls: fc.integer({ min: 1, max: 6 }),
      perSeconds: fc.integer({ min: 1, max: 20 }),
    })
    .map((options) => new FixedWindowRateLimit(options)),
  fc
    .record({
      maxCalls: fc.integer({ min: 1, max: 6 }),
      perSeconds: fc.integer({ min: 1, max: 20 }),
    })
    .map((options) => new SlidingWindowRateLimit(options)),
  fc
    .record({
      capacity: fc.double({ min: 0.5, max: 6, noNaN: true }),
      refillPerSecond: fc.double({ min: 0.05, max: 5, noNaN: true }),
    })
    .map((options) => new TokenBucketRateLimit(options)),
  fc
    .record({
      ratePerSecond: fc.double({ min: 0.05, max: 5, noNaN: true }),
      burst: fc.integer({ min: 1, max: 6 }),
    })
    .map((options) => new GcraRateLimit(options)),
  fc
    .record({
      maxConcurrent: fc.integer({ min: 1, max: 4 }),
      leaseSeconds: fc.integer({ min: 1, max: 20 }),
    })
    .map((options) => new ConcurrencyLimit(options)),
);

const operationArbitrary = fc.record({
  action: fc.constantFrom('consume', 'consume', 'consume', 'peek', 'refund', 'reset', 'sweep'),
  advanceMs: fc.oneof(
    fc.constant(0),
    fc.integer({ min: 0, max: 500 }),
    fc.integer({ min: 0, max: 30_000 }),
  ),
  subject: fc.constantFrom('user:a', 'user:b', '}{c', 'x'.repeat(300)),
  cost: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 4 })),
});

const integerCost = (limit: BuiltInRateLimit): boolean =>
  limit.algorithm === 'fixed-window' ||
  limit.algorithm === 'sliding-window' ||
  limit.algorithm === 'concurrency';

/** The checks of one call, keyed as the engine keys them (or by key alone, when `plainKeys`). */
function checksOf(
  limits: readonly BuiltInRateLimit[],
  subject: string,
  cost: number,
  plainKeys: boolean,
  admittedAtMs?: number,
): LimitCheck[] {
  return limits.map((limit, index) => {
    const key = `p:{${encodeKeyPart(subject)}}L${index}`;
    const check = { key, limit, cost: integerCost(limit) ? cost : cost * 0.75, admittedAtMs };
    return plainKeys ? check : { ...check, space: `p:L${index}`, subject };
  });
}

function expectSame(
  actual: readonly LimitOutcome[],
  expected: readonly LimitOutcome[],
  where: string,
) {
  expect({ where, allowed: actual.map((outcome) => outcome.allowed) }).toEqual({
    where,
    allowed: expected.map((outcome) => outcome.allowed),
  });
  actual.forEach((outcome, index) => {
    for (const field of ['retryAfterMs', 'remaining', 'resetAfterMs'] as const) {
      expect({ where, index, field, value: outcome[field] }).toEqual({
        where,
        index,
        field,
        value: expect.closeTo(expected[index][field], 6),
      });
    }
  });
}

describe('MemoryStore vs the pure algorithms (differential, random call sequences)', () => {
  it.each([
    ['keys as the engine makes them (space and subject)', false],
    ['plain keys', true],
  ])('%s', async (_name, plainKeys) => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(limitArbitrary, { minLength: 1, maxLength: 3 }),
        fc.array(operationArbitrary, { minLength: 1, maxLength: 60 }),
        async (limits, operations) => {
          let nowMs = 1_700_000_000_000;
          const store = new MemoryStore({ clock: () => nowMs });
          const states = new Map<string, unknown>();
          // When each subject's last admitted call was made: a refund gives that call back (a
          // ConcurrencyLimit's release finds the call's lease by it).
          const admittedAt = new Map<string, number>();
          for (const [step, { action, advanceMs, subject, cost }] of operations.entries()) {
            nowMs += advanceMs;
            const admittedAtMs = action === 'refund' ? admittedAt.get(subject) : undefined;
            const checks = checksOf(limits, subject, cost, plainKeys, admittedAtMs);
            const where = `operation ${step + 1}: ${action}`;
            if (action === 'sweep') {
              store.sweep();
            } else if (action === 'reset') {
              await store.reset(checks.map((check) => check.key));
              for (const check of checks) states.delete(check.key);
            } else if (action === 'refund') {
              await store.refund(checks);
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
            } else {
              const expected = checks.map((check) =>
                runAlgorithm(check.limit, states.get(check.key), nowMs, check.cost),
              );
              if (action === 'consume' && expected.every((outcome) => outcome.allowed)) {
                checks.forEach((check, index) => states.set(check.key, expected[index].state));
                admittedAt.set(subject, nowMs);
              }
              const actual =
                action === 'consume' ? store.evaluateNow(checks) : await store.peek(checks);
              expectSame(actual, expected, where);
            }
          }
          store.close();
        },
      ),
      { numRuns: 400 },
    );
  });
});

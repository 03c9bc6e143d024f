// The outage policy and a store command that timed out but still runs later: the concurrency slots
// it took late are freed once the call has ended, never while it runs, and only when it took them.
import { describe, expect, it } from '@jest/globals';
import {
  ConcurrencyLimit,
  FixedWindowRateLimit,
  ResilientStore,
  type LimitCheck,
  type LimitOutcome,
  type RateLimitStore,
  type StoreErrorPolicy,
} from '../../src/index.js';
import { StoreTimeoutError } from '../../src/core/stores/store.js';

const slot = new ConcurrencyLimit({ maxConcurrent: 1 });
const rate = new FixedWindowRateLimit({ maxCalls: 10, perSeconds: 60 });
const checks: LimitCheck[] = [
  { key: 'slot', limit: slot, cost: 1 },
  { key: 'rate', limit: rate, cost: 1 },
];
const LATE_AT_MS = 5_000;
const lateOutcome = (allowed: boolean): LimitOutcome => ({
  allowed,
  retryAfterMs: allowed ? 0 : 1_000,
  remaining: 0,
  resetAfterMs: 1_000,
  atMs: LATE_AT_MS,
});
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A store whose evaluations time out; `answerLate` is what Redis answers for them afterwards. */
function slowStore(policy: StoreErrorPolicy = 'insurance') {
  const refunds: LimitCheck[][] = [];
  let answerLate: (outcomes: readonly LimitOutcome[] | undefined) => void = () => undefined;
  const slow: RateLimitStore = {
    evaluate: () => {
      const late = new Promise<readonly LimitOutcome[] | undefined>((answer) => {
        answerLate = answer;
      });
      return Promise.reject(new StoreTimeoutError('timed out', late));
    },
    refund: async (refunded) => {
      refunds.push([...refunded]);
    },
  };
  const store = new ResilientStore(slow, { policy, logger: { warn: () => undefined } });
  return {
    store,
    refunds,
    answerLate: (outcomes?: readonly LimitOutcome[]) => answerLate(outcomes),
  };
}

const freedLate = [{ key: 'slot', limit: slot, cost: 1, admittedAtMs: LATE_AT_MS }];

describe('slots a timed-out command took late', () => {
  it('stay held while the call runs, and are freed once when it releases', async () => {
    const { store, refunds, answerLate } = slowStore();
    const [held, rated] = await store.evaluate(checks);
    expect(held.allowed).toBe(true);
    expect(rated.onRelease).toBeUndefined(); // rate limits a late command consumed stay consumed
    answerLate([lateOutcome(true), lateOutcome(true)]);
    await settle();
    expect(refunds).toEqual([]);
    held.onRelease?.();
    held.onRelease?.();
    await settle();
    expect(refunds).toEqual([freedLate]);
    store.close();
  });

  it('are freed as soon as the late reply comes when the call has already released', async () => {
    const { store, refunds, answerLate } = slowStore();
    const [held] = await store.evaluate(checks);
    held.onRelease?.();
    await settle();
    expect(refunds).toEqual([]);
    answerLate([lateOutcome(true), lateOutcome(true)]);
    await settle();
    expect(refunds).toEqual([freedLate]);
    store.close();
  });

  it('free nothing when the late command was denied, or never answered', async () => {
    const denied = slowStore();
    const [held] = await denied.store.evaluate(checks);
    denied.answerLate([lateOutcome(false), lateOutcome(true)]);
    held.onRelease?.();
    await settle();
    expect(denied.refunds).toEqual([]);
    denied.store.close();

    const failed = slowStore();
    const [other] = await failed.store.evaluate(checks);
    failed.answerLate(undefined);
    other.onRelease?.();
    await settle();
    expect(failed.refunds).toEqual([]);
    failed.store.close();
  });

  it('of a call the policy denied are freed when the late reply comes (it never runs)', async () => {
    const { store, refunds, answerLate } = slowStore('deny');
    const [denied] = await store.evaluate(checks);
    expect(denied.allowed).toBe(false);
    answerLate([lateOutcome(true), lateOutcome(true)]);
    await settle();
    expect(refunds).toEqual([freedLate]);
    store.close();
  });
});

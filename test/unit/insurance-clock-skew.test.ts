import { describe, expect, it, jest } from '@jest/globals';
import {
  createRateLimiter,
  FixedWindowRateLimit,
  MemoryStore,
  SlidingWindowRateLimit,
  TokenBucketRateLimit,
  type Limiter,
  type RateLimitStore,
} from '../../src/index.js';

// The insurance record counts every call the store admits at the STORE's time (Redis `TIME`, the
// outcome's `atMs`), and decides while the store is down by this host's clock. When the two clocks
// disagree, the record must still never hand out more than what is left of the limit.

/** A shared store whose clock is `skewMs` off this host's, and that can go down. */
function skewedStore(localMs: () => number, skewMs: number) {
  const state = { down: false };
  const shared = new MemoryStore({ clock: () => localMs() + skewMs });
  const store: RateLimitStore = {
    evaluate: (checks) =>
      state.down ? Promise.reject(new Error('ECONNREFUSED')) : shared.evaluate(checks),
    refund: (checks) =>
      state.down ? Promise.reject(new Error('ECONNREFUSED')) : shared.refund(checks),
  };
  return { store, state };
}

async function admittedOf(
  limiter: { consume(subject: string): Promise<{ allowed: boolean }> },
  calls: number,
) {
  let admitted = 0;
  for (let index = 0; index < calls; index++) {
    if ((await limiter.consume('alice')).allowed) admitted++;
  }
  return admitted;
}

function limiterOn(store: RateLimitStore, limit: Limiter, localMs: () => number) {
  return createRateLimiter({
    limits: [limit],
    store,
    name: 'skew',
    clock: localMs,
    logger: { warn: jest.fn<(message: string) => void>() },
  });
}

describe('insurance with the store clock skewed from this host', () => {
  it('a store clock AHEAD: a fixed window used up just after its boundary is not handed out again', async () => {
    const windowMs = 60_000;
    const boundaryMs = 1_800_000_000_000; // a multiple of the window
    let nowMs = boundaryMs - 9_000; // this host; the store is 10 s ahead: 1 s into its window
    const { store, state } = skewedStore(() => nowMs, 10_000);
    const limiter = limiterOn(
      store,
      new FixedWindowRateLimit({ maxCalls: 5, perSeconds: windowMs / 1000 }),
      () => nowMs,
    );
    expect(await admittedOf(limiter, 5)).toBe(5); // the store admits the whole quota
    state.down = true;
    // Still the same window of the store (its time is boundary + 1 s ... + 20 s).
    const duringOutage = await admittedOf(limiter, 10);
    nowMs = boundaryMs + 10_000;
    const later = await admittedOf(limiter, 10);
    expect(duringOutage + later).toBe(0);
  });

  it('a store clock BEHIND: a used-up token bucket is not refilled by the skew', async () => {
    const nowMs = 1_800_000_000_000;
    const { store, state } = skewedStore(() => nowMs, -2_000); // the store is 2 s behind
    const limiter = limiterOn(
      store,
      new TokenBucketRateLimit({ capacity: 5, refillPerSecond: 5 }),
      () => nowMs,
    );
    expect(await admittedOf(limiter, 5)).toBe(5);
    state.down = true;
    // No time has passed: the bucket is empty, whoever decides.
    expect(await admittedOf(limiter, 5)).toBe(0);
  });

  it('a store clock BEHIND: a sliding window entry does not leave the window early', async () => {
    let nowMs = 1_800_000_000_000;
    const { store, state } = skewedStore(() => nowMs, -5_000); // the store is 5 s behind
    const limiter = limiterOn(
      store,
      new SlidingWindowRateLimit({ maxCalls: 3, perSeconds: 10 }),
      () => nowMs,
    );
    expect(await admittedOf(limiter, 3)).toBe(3);
    state.down = true;
    nowMs += 6_000; // 6 s after the calls: they are still inside any 10 s window
    expect(await admittedOf(limiter, 3)).toBe(0);
  });

  it('a store clock AHEAD: a refund gives the record back no more than the call took', async () => {
    const nowMs = 1_800_000_000_000;
    const { store, state } = skewedStore(() => nowMs, 10_000); // the store is 10 s ahead
    const limiter = limiterOn(
      store,
      new TokenBucketRateLimit({ capacity: 5, refillPerSecond: 1 }),
      () => nowMs,
    );
    const decisions = [];
    for (let index = 0; index < 5; index++) decisions.push(await limiter.consume('alice'));
    expect(decisions.every((decision) => decision.allowed)).toBe(true);
    await limiter.refund(decisions[0]); // one token back
    state.down = true;
    expect(await admittedOf(limiter, 5)).toBe(1);
  });
});

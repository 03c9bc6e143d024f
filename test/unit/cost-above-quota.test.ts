// Found by attack review 9: a call that costs more than a limit's whole quota can never be
// admitted, yet was denied with a retryAfter, so a client doing as told waited and retried for
// ever. Such a call now fails with a RateLimitConfigError naming the limit, the cost and the quota.
import { describe, expect, test } from '@jest/globals';
import {
  ConcurrencyLimit,
  FixedWindowRateLimit,
  GcraRateLimit,
  RateLimitConfigError,
  SlidingWindowRateLimit,
  TokenBucketRateLimit,
  createRateLimiter,
  type BuiltInRateLimit,
} from '../../src/index.js';

const limits: [string, () => BuiltInRateLimit][] = [
  ['FixedWindowRateLimit', () => new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 60 })],
  ['SlidingWindowRateLimit', () => new SlidingWindowRateLimit({ maxCalls: 5, perSeconds: 60 })],
  ['TokenBucketRateLimit', () => new TokenBucketRateLimit({ capacity: 5, refillPerSecond: 1 })],
  ['GcraRateLimit', () => new GcraRateLimit({ burst: 5, ratePerSecond: 1 })],
];

describe.each(limits)('%s: a cost above the whole quota', (className, make) => {
  test('fails with a configuration error naming the limit, the cost and the quota', async () => {
    const limiter = createRateLimiter({ limits: [make()] });
    const consumed = limiter.consume('u', { cost: 6 });
    await expect(consumed).rejects.toThrow(RateLimitConfigError);
    await expect(limiter.consume('u', { cost: 6 })).rejects.toThrow(
      new RegExp(`${className}.*cost 6.*quota of 5`),
    );
  });

  test('the whole quota at once is still admitted, and charges nothing when refused', async () => {
    const limiter = createRateLimiter({ limits: [make()] });
    await expect(limiter.consume('u', { cost: 7 })).rejects.toThrow(RateLimitConfigError);
    expect((await limiter.consume('u', { cost: 5 })).allowed).toBe(true);
  });
});

test('ConcurrencyLimit: a call taking more slots than maxConcurrent fails the same way', async () => {
  const limiter = createRateLimiter({
    limits: [new ConcurrencyLimit({ maxConcurrent: 2, cost: (context) => context.cost })],
  });
  await expect(limiter.consume('u', { cost: 3 })).rejects.toThrow(
    /ConcurrencyLimit.*cost 3.*quota of 2/,
  );
  const decision = await limiter.consume('u', { cost: 2 });
  expect(decision.allowed).toBe(true);
  await decision.release();
});

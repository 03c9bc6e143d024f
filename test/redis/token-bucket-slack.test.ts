// A token bucket admits a call up to 1 µs early (EPSILON_MS of refill, its slack), so that a call
// made at the moment its retryAfter named is not refused over float noise. But the shortfall was
// forgiven (`max(0, tokens - cost)`), so on an EMPTY bucket a call whose cost is at most the slack
// was admitted and took nothing, without end: a bandwidth limit of 1 MB/s (refillPerSecond
// 1_000_000, cost = bytes) let any number of 1-byte calls through at once. Both twins.
import { expect, test } from '@jest/globals';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { TokenBucketRateLimit } from '../../src/core/limits.js';
import { clockedStores } from './clocked-stores.js';
import { redisDescribe } from './redis-available.js';

const describeRedis = await redisDescribe('token bucket slack', { ownServers: true });

describeRedis('a token bucket does not forgive the slack of its early calls', () => {
  const stores = clockedStores();

  test.each(stores)(
    '%s: an empty bucket admits no run of calls that each cost at most its slack',
    async (label, make) => {
      const nowMs = 1_800_000_000_000;
      const store = make(() => nowMs);
      try {
        const limiter = createRateLimiter({
          limits: [new TokenBucketRateLimit({ capacity: 10_000_000, refillPerSecond: 1_000_000 })],
          store,
          name: `bandwidth-${label}-${Math.random()}`,
          logger: { warn: () => undefined },
        });
        expect((await limiter.consume('mallory', { cost: 10_000_000 })).allowed).toBe(true);
        let admitted = 0;
        for (let index = 0; index < 200; index++) {
          if ((await limiter.consume('mallory', { cost: 1 })).allowed) admitted++;
        }
        expect(admitted).toBeLessThanOrEqual(1); // 1 µs of refill is 1 byte: one call early
      } finally {
        await store.close();
      }
    },
  );
});

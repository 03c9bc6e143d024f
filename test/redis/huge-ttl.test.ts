// Attack review 12: a limit whose state lasts longer than Redis can express (a token bucket that
// practically never refills, "3 calls, ever") passes validation (its milliseconds are finite), and
// the MemoryStore enforces it. On Redis, its TTL reached `SET … PX` as the Lua cast of a double
// above 2^63 (a negative number): Redis refused every call ("invalid expire time"), so the outage
// policy decided each one for good: `allow` admitted every call, `insurance` gave each instance the
// whole quota of its own.
import { expect, test } from '@jest/globals';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { GcraRateLimit, TokenBucketRateLimit } from '../../src/core/limits.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { REDIS_URL, redisDescribe } from './redis-available.js';

const describeRedis = await redisDescribe('a state that lasts longer than Redis can express');

describeRedis('a state that lasts longer than Redis can express', () => {
  test.each([
    ['TokenBucketRateLimit', new TokenBucketRateLimit({ capacity: 3, refillPerSecond: 1e-17 }), 3],
    ['GcraRateLimit', new GcraRateLimit({ ratePerSecond: 1e-300, burst: 1 }), 1],
  ])('%s is enforced by Redis, not handed to the outage policy', async (_, limit, quota) => {
    const store = RedisStore.fromUrl(REDIS_URL);
    const warnings: string[] = [];
    try {
      const limiter = createRateLimiter({
        name: `huge-ttl-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`,
        limits: [limit],
        store,
        onStoreError: 'allow',
        logger: { warn: (message: string) => warnings.push(message) },
      });
      let admitted = 0;
      for (let call = 0; call < 10; call++)
        if ((await limiter.consume('mallory')).allowed) admitted++;
      expect(admitted).toBe(quota);
      expect(warnings).toEqual([]);
    } finally {
      await store.close();
    }
  });
});

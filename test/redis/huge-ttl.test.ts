// Attack review 12: a limit whose state lasts longer than Redis can express (a token bucket that
// practically never refills, "3 calls, ever") passes validation (its milliseconds are finite), and
// the MemoryStore enforces it. On Redis, its TTL reached `SET … PX` as the Lua cast of a double
// above 2^63 (a negative number): Redis refused every call ("invalid expire time"), so the outage
// policy decided each one for good: `allow` admitted every call, `insurance` gave each instance the
// whole quota of its own. The same through a CacheManagerStore over a Redis-backed Keyv: its TTL
// (1e20 ms) reached Redis as a PX out of range.
import { expect, test } from '@jest/globals';
import KeyvRedis from '@keyv/redis';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import {
  GcraRateLimit,
  TokenBucketRateLimit,
  type BuiltInRateLimit,
} from '../../src/core/limits.js';
import { CacheManagerStore } from '../../src/core/stores/cache-manager-store.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import type { RateLimitStore } from '../../src/core/stores/store.js';
import { REDIS_URL, redisDescribe } from './redis-available.js';

const describeRedis = await redisDescribe('a state that lasts longer than Redis can express');

const limits: [string, () => BuiltInRateLimit, number][] = [
  [
    'TokenBucketRateLimit',
    () => new TokenBucketRateLimit({ capacity: 3, refillPerSecond: 1e-17 }),
    3,
  ],
  ['GcraRateLimit', () => new GcraRateLimit({ ratePerSecond: 1e-300, burst: 1 }), 1],
];

/** Ten calls of one subject on `store` (outage policy `allow`): how many were admitted, warnings. */
async function tenCalls(store: RateLimitStore, limit: BuiltInRateLimit) {
  const warnings: string[] = [];
  const limiter = createRateLimiter({
    name: `huge-ttl-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`,
    limits: [limit],
    store,
    onStoreError: 'allow',
    logger: { warn: (message: string) => warnings.push(message) },
  });
  let admitted = 0;
  for (let call = 0; call < 10; call++) if ((await limiter.consume('mallory')).allowed) admitted++;
  return { admitted, warnings };
}

describeRedis('a state that lasts longer than Redis can express', () => {
  test.each(limits)(
    '%s is enforced by a RedisStore, not handed to the outage policy',
    async (_, limit, quota) => {
      const store = RedisStore.fromUrl(REDIS_URL);
      try {
        const { admitted, warnings } = await tenCalls(store, limit());
        expect(admitted).toBe(quota);
        expect(warnings).toEqual([]);
      } finally {
        await store.close();
      }
    },
  );

  test.each(limits)(
    '%s is enforced by a CacheManagerStore over Redis, not handed to the outage policy',
    async (_, limit, quota) => {
      const keyvRedis = new KeyvRedis(REDIS_URL);
      keyvRedis.on('error', () => undefined);
      const keyv = new Keyv({ store: keyvRedis, namespace: `huge-ttl-${Math.random()}` });
      keyv.on('error', () => undefined);
      try {
        const store = new CacheManagerStore(createCache({ stores: [keyv] }));
        const { admitted, warnings } = await tenCalls(store, limit());
        expect(admitted).toBe(quota);
        expect(warnings).toEqual([]);
      } finally {
        await keyvRedis.disconnect();
      }
    },
  );
});

// cache-manager's `nonBlocking: true` (security review: cache store). Such a cache's set() answers
// before its stores have taken the write, and its get() answers with whichever store answers
// first. The CacheManagerStore released a key once set() had answered, so the next call of the
// subject read the state from before the write, still in flight, and was admitted on it: inside
// one process, the limit admitted more than it declared (200 concurrent calls against 5: 10
// admitted for every algorithm). Mended by 4073b92: over Keyv stores the CacheManagerStore reads
// and writes each store itself, awaiting every write.
import { describe, expect, it } from '@jest/globals';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import {
  CacheManagerStore,
  ConcurrencyLimit,
  FixedWindowRateLimit,
  GcraRateLimit,
  SlidingWindowRateLimit,
  TokenBucketRateLimit,
  createRateLimiter,
} from '../../src/index.js';
import { remoteKeyvAdapter } from '../fixtures/remote-keyv-adapter.js';

describe('CacheManagerStore over a nonBlocking cache-manager cache', () => {
  const limits = [
    new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 3_600 }),
    new SlidingWindowRateLimit({ maxCalls: 5, perSeconds: 3_600 }),
    new TokenBucketRateLimit({ capacity: 5, refillPerSecond: 0.0001 }),
    new GcraRateLimit({ ratePerSecond: 0.0001, burst: 5 }),
    new ConcurrencyLimit({ maxConcurrent: 5, leaseSeconds: 600 }),
  ];
  it.each(limits.map((limit) => [limit.describe(), limit] as const))(
    '%s: 200 concurrent calls of one subject, 5 admitted',
    async (_name, limit) => {
      const cache = createCache({
        stores: [new Keyv({ store: remoteKeyvAdapter({ ms: 3 }) as never })],
        nonBlocking: true,
      });
      const limiter = createRateLimiter({
        limits: [limit],
        store: new CacheManagerStore(cache),
        name: 'tool',
        onStoreError: 'deny',
        logger: { warn: () => undefined },
      });
      const decisions = await Promise.all(
        Array.from({ length: 200 }, () => limiter.consume('client')),
      );
      expect(decisions.filter((decision) => decision.allowed)).toHaveLength(5);
    },
  );
});

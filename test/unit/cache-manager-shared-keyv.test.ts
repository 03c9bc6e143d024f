// Two cache-manager caches over one Keyv store (security review: cache store). The stores over one
// cache object share their key queues, so that two modules' stores do not race on a key; but the
// queues were kept per cache object, and two caches made over the same Keyv store (CacheModule
// registered in two modules with one `stores` array, or a cache of the app's own beside Nest's)
// hold the same keys in the same backend. Their calls of one subject were not queued behind each
// other: each read the state before the other's write, and one process admitted more than the
// limit (200 concurrent calls against 5, half through each cache: 10 admitted).
import { describe, expect, it } from '@jest/globals';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import {
  CacheManagerStore,
  FixedWindowRateLimit,
  TokenBucketRateLimit,
  createRateLimiter,
} from '../../src/index.js';
import { remoteKeyvAdapter } from '../fixtures/remote-keyv-adapter.js';

describe('two caches over one Keyv store, one process', () => {
  const limits = [
    new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 3_600 }),
    new TokenBucketRateLimit({ capacity: 5, refillPerSecond: 0.0001 }),
  ];
  it.each(limits.map((limit) => [limit.describe(), limit] as const))(
    '%s: 200 concurrent calls of one subject through both, 5 admitted',
    async (_name, limit) => {
      const adapter = remoteKeyvAdapter({ ms: 2 });
      const limiters = [0, 1].map(() =>
        createRateLimiter({
          limits: [limit],
          store: new CacheManagerStore(
            createCache({ stores: [new Keyv({ store: adapter as never })] }),
          ),
          name: 'tool',
          onStoreError: 'deny',
          logger: { warn: () => undefined },
        }),
      );
      const decisions = await Promise.all(
        Array.from({ length: 200 }, (_, call) => limiters[call % 2].consume('client')),
      );
      expect(decisions.filter((decision) => decision.allowed)).toHaveLength(5);
    },
  );
});

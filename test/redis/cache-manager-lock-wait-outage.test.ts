// Attack review 8 (fix of review 7: CacheManagerStore's operationTimeoutMs now bounds the wait for a
// busy key). A wait in the store's own per-key queue, behind calls the cache IS answering, is now
// taken for a store failure: ResilientStore marks the store down (retryIntervalMs) and the outage
// policy decides EVERY subject's calls on the instance. One client that queues enough concurrent
// calls on its OWN key, against a healthy cache, switches the whole instance to the policy:
// with onStoreError 'deny' every other user is denied; with 'allow' everyone is admitted unlimited.
// Doubt the attacker manufactured (contention in our own queue, not the cache) must not become an
// outage: a call waiting on a key whose earlier calls the cache keeps answering is not the store's
// failure (the RedisStore's batcher gives a lane that keeps answering more time for this reason).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import KeyvRedis from '@keyv/redis';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { FixedWindowRateLimit } from '../../src/core/limits.js';
import { CacheManagerStore } from '../../src/core/stores/cache-manager-store.js';
import { redisDescribe } from './redis-available.js';
import { TestRedisServer } from './redis-server.js';

const describeRedis = await redisDescribe('cache lock wait is no outage', {
  ownServers: true,
});

describeRedis('CacheManagerStore over a healthy cache: one client queueing on its own key', () => {
  let server: TestRedisServer;
  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort();
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('another user is still decided by the (healthy) store, not by the deny policy', async () => {
    const keyvRedis = new KeyvRedis(server.url);
    keyvRedis.on('error', () => undefined);
    const keyv = new Keyv({ store: keyvRedis, namespace: 'app' });
    keyv.on('error', () => undefined);
    const cache = createCache({ stores: [keyv] });
    const warnings: string[] = [];
    // A short timeout, so that a queue the cache answers in a few seconds outlasts it many times.
    const store = new CacheManagerStore(cache, { operationTimeoutMs: 200 });
    try {
      const limiter = createRateLimiter({
        name: 'per-user',
        limits: [new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 3600 })],
        store,
        logger: { warn: (message: string) => warnings.push(message) },
        onStoreError: 'deny',
      });
      expect((await limiter.consume('user:victim-warm-up')).allowed).toBe(true);

      // The attacker: many concurrent calls under its own subject (its own key). The cache answers
      // every one of them; they only wait for each other in the store's per-key queue.
      const N = 3000;
      const started = performance.now();
      const decisions = await Promise.all(
        Array.from({ length: N }, () => limiter.consume('user:attacker')),
      );
      const elapsedMs = performance.now() - started;
      const admitted = decisions.filter((decision) => decision.allowed).length;
      expect(admitted).toBeLessThanOrEqual(5);

      // The victim, right after: a different subject, a healthy cache.
      const victim = await limiter.consume('user:victim');
      expect({ victimAllowed: victim.allowed, warnings, elapsedMs: elapsedMs > 0 }).toEqual({
        victimAllowed: true,
        warnings: [],
        elapsedMs: true,
      });
    } finally {
      await keyvRedis.disconnect().catch(() => undefined);
    }
  }, 60_000);
});

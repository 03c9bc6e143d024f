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
import { TcpProxy } from './tcp-proxy.js';

const describeRedis = await redisDescribe('cache lock wait is no outage', {
  ownServers: true,
});

// A cache 20 ms away answers every command, and a call (a read, then a write) holds its key for
// about 20 ms (a denied call only reads): 200 calls queued on one key take about 4 s to drain, four times the store's 1 s
// timeout. The timeout stays far above what a loaded test machine stalls for.
const REPLY_DELAY_MS = 20;
const TIMEOUT_MS = 1000;
const CALLS = 200;

describeRedis('CacheManagerStore over a healthy cache: one client queueing on its own key', () => {
  let server: TestRedisServer;
  let proxy: TcpProxy;
  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort();
    proxy = new TcpProxy(server.port);
    await proxy.start();
  });
  afterAll(async () => {
    await proxy?.stop();
    await server?.stop();
  });

  test('another user is still decided by the (healthy) store, not by the deny policy', async () => {
    const keyvRedis = new KeyvRedis(proxy.url);
    keyvRedis.on('error', () => undefined);
    const keyv = new Keyv({ store: keyvRedis, namespace: 'app' });
    keyv.on('error', () => undefined);
    const cache = createCache({ stores: [keyv] });
    const warnings: string[] = [];
    const store = new CacheManagerStore(cache, { operationTimeoutMs: TIMEOUT_MS });
    try {
      const limiter = createRateLimiter({
        name: 'per-user',
        limits: [new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 3600 })],
        store,
        logger: { warn: (message: string) => warnings.push(message) },
        onStoreError: 'deny',
      });
      expect((await limiter.consume('user:victim-warm-up')).allowed).toBe(true);
      proxy.delayReplies(REPLY_DELAY_MS);

      // The attacker: many concurrent calls under its own subject (its own key). The cache answers
      // every one of them; they only wait for each other in the store's per-key queue.
      const started = performance.now();
      const decisions = await Promise.all(
        Array.from({ length: CALLS }, () => limiter.consume('user:attacker')),
      );
      const elapsedMs = performance.now() - started;
      const admitted = decisions.filter((decision) => decision.allowed).length;
      expect(admitted).toBeLessThanOrEqual(5);

      // The victim, right after: a different subject, a healthy cache.
      const victim = await limiter.consume('user:victim');
      expect({
        victimAllowed: victim.allowed,
        warnings,
        queueOutlastedTimeouts: elapsedMs > 2 * TIMEOUT_MS,
      }).toEqual({ victimAllowed: true, warnings: [], queueOutlastedTimeouts: true });
    } finally {
      proxy.delayReplies(0);
      await keyvRedis.disconnect().catch(() => undefined);
    }
  }, 60_000);
});

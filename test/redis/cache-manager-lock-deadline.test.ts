// A stalled cache and the CacheManagerStore's per-key queue (found by attack review 7). The store
// serialises the calls that touch one key (CacheManagerStore.lock); its operationTimeoutMs must
// bound the whole call, the wait for the key included, or, when the cache stalls, the calls queued
// on one key each wait out a whole timeout in turn: the 15th would wait 15 timeouts before the
// outage policy decides it. One key is shared by many callers whenever a limit is keyed by
// something else than the user (a `key` per organisation, `unidentified: 'shared'`, a whole-API
// limit), so one client that queues calls there stalls everybody's.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import KeyvRedis from '@keyv/redis';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { FixedWindowRateLimit } from '../../src/core/limits.js';
import { CacheManagerStore } from '../../src/core/stores/cache-manager-store.js';
import { redisDescribe } from './redis-available.js';
import { TestRedisServer } from './redis-server.js';

const describeRedis = await redisDescribe('CacheManagerStore: deadline of queued calls', {
  ownServers: true,
});
const quiet = { warn: () => undefined };

describeRedis('CacheManagerStore: calls queued on one key of a stalled cache', () => {
  let server: TestRedisServer;
  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort();
  });
  afterAll(async () => {
    server?.signal('SIGCONT');
    await server?.stop();
  });

  test('every call on a shared key is decided within about operationTimeoutMs', async () => {
    const TIMEOUT_MS = 200;
    const keyvRedis = new KeyvRedis(server.url);
    keyvRedis.on('error', () => undefined);
    const keyv = new Keyv({ store: keyvRedis, namespace: 'app' });
    keyv.on('error', () => undefined);
    const cache = createCache({ stores: [keyv] });
    const store = new CacheManagerStore(cache, { operationTimeoutMs: TIMEOUT_MS });
    try {
      const limiter = createRateLimiter({
        name: 'shared-key',
        // One quota for the whole API: every caller's calls touch the same key.
        limits: [
          new FixedWindowRateLimit({ maxCalls: 1_000_000, perSeconds: 3600, key: () => 'api' }),
        ],
        store,
        logger: quiet,
        onStoreError: 'deny',
      });
      expect((await limiter.consume('user:warm-up')).allowed).toBe(true);

      server.signal('SIGSTOP');
      const started = performance.now();
      const settledAfter: number[] = [];
      await Promise.all(
        Array.from({ length: 15 }, (_, index) =>
          limiter.consume(`user:${index}`).then(() => {
            settledAfter.push(performance.now() - started);
          }),
        ),
      );
      server.signal('SIGCONT');
      expect(Math.max(...settledAfter)).toBeLessThan(3 * TIMEOUT_MS);
    } finally {
      server.signal('SIGCONT');
      await keyvRedis.disconnect().catch(() => undefined);
    }
  });
});

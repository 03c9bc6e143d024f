// A ConcurrencyLimit lease written late by a slow cache (found by attack review 7). The
// CacheManagerStore gives up on a cache write after operationTimeoutMs, though the write may still
// land (a slow cache, a reply held up on the network). For a ConcurrencyLimit that write is a lease,
// at the store's time of the call; the outage policy decides the call meanwhile and its release
// names the policy's lease, so the lease the cache got would never be freed: the user could not run
// the tool until it expires (leaseSeconds), though nothing runs. As store.ts asks of a store that
// stops waiting, the timed-out call's StoreTimeoutError carries what the late write took, and
// ResilientStore frees it once the call ends (as for the RedisStore).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import KeyvRedis from '@keyv/redis';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { ConcurrencyLimit } from '../../src/core/limits.js';
import { CacheManagerStore } from '../../src/core/stores/cache-manager-store.js';
import { ResilientStore } from '../../src/core/stores/insurance.js';
import { redisDescribe } from './redis-available.js';
import { TestRedisServer } from './redis-server.js';
import { TcpProxy } from './tcp-proxy.js';

const describeRedis = await redisDescribe('CacheManagerStore: a write that lands late', {
  ownServers: true,
});
const quiet = { warn: () => undefined };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeRedis('CacheManagerStore: a lease written after the store gave up', () => {
  let server: TestRedisServer;
  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort();
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('the slot a timed-out write took is free once the call releases', async () => {
    const proxy = new TcpProxy(server.port);
    await proxy.start();
    const keyvRedis = new KeyvRedis(proxy.url);
    keyvRedis.on('error', () => undefined);
    const keyv = new Keyv({ store: keyvRedis, namespace: 'app' });
    keyv.on('error', () => undefined);
    const store = new CacheManagerStore(createCache({ stores: [keyv] }), {
      operationTimeoutMs: 300,
    });
    try {
      const limiter = createRateLimiter({
        name: 'late-write',
        limits: [new ConcurrencyLimit({ maxConcurrent: 1, leaseSeconds: 600 })],
        store,
        logger: quiet,
        retryIntervalMs: 50,
      });
      const resilient = limiter.engine.store as ResilientStore;
      await (await limiter.consume('user:warm-up')).release();

      // The call's write reaches Redis (and runs), its reply is held past the timeout.
      proxy.holdWhenSent(/\$3\r\nSET\r\n/i);
      const call = await limiter.consume('user:alice');
      expect(call.allowed).toBe(true); // decided by the policy
      expect(resilient.degraded).toBe(true);
      proxy.release();

      const end = Date.now() + 10_000;
      while (resilient.degraded) {
        if (Date.now() > end) throw new Error('not recovered');
        await sleep(60);
        await (await limiter.consume('user:probe')).release();
      }

      // The call ends: nothing of alice's runs.
      await call.release();
      await sleep(100);
      const next = await limiter.consume('user:alice');
      expect(next.allowed).toBe(true);
      await next.release();
    } finally {
      await keyvRedis.disconnect().catch(() => undefined);
      await proxy.stop();
    }
  });
});

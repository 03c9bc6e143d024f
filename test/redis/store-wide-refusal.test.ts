// Review of attack review 12: a failure inside the script is one broken key (a foreign value: the
// policy decides that call, the store stays up), unless Redis refuses every write of the moment:
// a replica (READONLY, a demoted master the client still talks to) or a full Redis (OOM). Taken
// for a broken key, such a refusal never marked the store down, so nothing re-sent the releases it
// refused: a ConcurrencyLimit slot stayed held after Redis could write again, its subject shut out
// for the whole lease. A private redis-server, made a replica of nothing and back.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { ConcurrencyLimit } from '../../src/core/limits.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { freePorts, TestRedisServer } from './redis-server.js';
import { redisDescribe } from './redis-available.js';

const describeRedis = await redisDescribe('a refusal of every write is an outage', {
  ownServers: true,
});

describeRedis('a refusal of every write is an outage', () => {
  let server: TestRedisServer;
  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort();
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('a release refused by a read-only Redis is sent again once Redis writes again', async () => {
    const store = RedisStore.fromUrl(server.url);
    const warnings: string[] = [];
    try {
      const limiter = createRateLimiter({
        name: 'store-wide',
        limits: [new ConcurrencyLimit({ maxConcurrent: 1, leaseSeconds: 30 })],
        store,
        onStoreError: 'deny',
        retryIntervalMs: 50,
        logger: { warn: (message: string) => warnings.push(message) },
      });
      const running = await limiter.consume('alice');
      expect(running.allowed).toBe(true);
      // A master nobody runs: the server turns replica, and refuses every write.
      const [nowhere] = await freePorts(1);
      await server.cli('REPLICAOF', '127.0.0.1', String(nowhere));
      await running.release(); // refused: READONLY
      expect(warnings.join('\n')).toMatch(/READONLY[\s\S]*until it answers/);
      await server.cli('REPLICAOF', 'NO', 'ONE');
      // Redis writes again: within a few calls (the first may be the probe that finds it back,
      // decided before the release is sent), Alice's slot is free; before, it stayed held for 30 s.
      let admitted = false;
      for (let attempt = 0; attempt < 5 && !admitted; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const decision = await limiter.consume('alice');
        admitted = decision.allowed;
        await decision.release();
      }
      expect(admitted).toBe(true);
    } finally {
      await store.close();
    }
  });
});

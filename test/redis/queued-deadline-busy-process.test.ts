// Attack review 8 (fix of review 7: queued batches are held to a deadline from when they start to
// wait). README, When the store is down: "A reply that has arrived is never taken for a timeout,
// however long the process was busy (a CPU-heavy request, a long garbage collection)". With calls
// queued behind the two script calls in flight, one synchronous stretch longer than
// commandTimeoutMs (any request that computes for 1.5 s; a client can send one to a tool that does)
// now makes the queued batches fail as "Redis did not answer within 1000 ms" though Redis answered
// each script call in well under a millisecond: 872 of 1000 calls decided by the outage policy
// ('deny': refused), and the store counts as down for every user. Before the fix: none.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { FixedWindowRateLimit } from '../../src/core/limits.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { redisDescribe } from './redis-available.js';
import { TestRedisServer } from './redis-server.js';

const describeRedis = await redisDescribe('queued calls, busy process', {
  ownServers: true,
});

describeRedis('RedisStore (default commandTimeoutMs) while the process is busy', () => {
  let server: TestRedisServer;
  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort();
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('calls queued behind the script calls in flight are decided by Redis, not the policy', async () => {
    const store = RedisStore.fromUrl(server.url);
    const warnings: string[] = [];
    try {
      const limiter = createRateLimiter({
        name: 'busy',
        limits: [new FixedWindowRateLimit({ maxCalls: 1_000_000, perSeconds: 3600 })],
        store,
        logger: { warn: (message: string) => warnings.push(message) },
        onStoreError: 'deny',
      });
      expect((await limiter.consume('user:warm-up')).allowed).toBe(true);

      // 1000 calls of 100 users (16 script calls: 2 in flight, the rest queued), then a request
      // that keeps the process busy for 1.5 s. A few rounds: whether the watchdog looks before the
      // replies of the batches sent right after the busy stretch are read depends on timing.
      let refused = 0;
      for (let round = 0; round < 4; round++) {
        const calls = Array.from({ length: 1000 }, (_, index) =>
          limiter.consume(`user:${round}:${index % 100}`),
        );
        setTimeout(() => {
          const end = performance.now() + 1500;
          while (performance.now() < end);
        }, 0);
        const decisions = await Promise.all(calls);
        refused += decisions.filter((decision) => !decision.allowed).length;
        await new Promise((resolve) => setTimeout(resolve, 1200)); // past retryIntervalMs
      }

      expect({ refused, warnings }).toEqual({ refused: 0, warnings: [] });
    } finally {
      await store.close();
    }
  }, 60_000);
});

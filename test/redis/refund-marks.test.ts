// Attack review 8 (fix of review 7: a refund or release runs once in Redis, by a mark key). Every
// refund now leaves its own `…!refund:<id>` key, kept for the refund's horizon: a fixed or sliding
// window's whole period. A client whose calls are refunded (refundWhen: failed calls; a call that
// ends in an error costs it nothing, by design) creates one such key per call, as fast as it can
// call, each living a whole window (a day for a per-day limit): Redis memory grows with the
// attacker's request rate times the period, not with the number of subjects or limits. Before the
// fix a refund left nothing. What must hold: a mark lives only as long as a client may send its
// refund again (2 minutes at most), not a whole window, so the marks in Redis are a few minutes of
// refunds, however long the limit's period.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { Redis } from 'ioredis';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { ConcurrencyLimit, FixedWindowRateLimit } from '../../src/core/limits.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { redisDescribe } from './redis-available.js';
import { TestRedisServer } from './redis-server.js';

const describeRedis = await redisDescribe('refund marks', { ownServers: true });
const quiet = { warn: () => undefined };

async function keysMatching(client: Redis, pattern: string): Promise<string[]> {
  let cursor = '0';
  const found: string[] = [];
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

describeRedis('RedisStore: the marks that make a refund or release run once', () => {
  let server: TestRedisServer;
  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort();
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('the marks of a client refunded over and over expire within minutes, not a window', async () => {
    const client = new Redis(server.url);
    client.on('error', () => undefined);
    const store = new RedisStore({ client });
    try {
      const limiter = createRateLimiter({
        name: 'per-day',
        limits: [new FixedWindowRateLimit({ maxCalls: 10, perSeconds: 86_400 })],
        store,
        logger: quiet,
      });
      // Each call fails and is refunded (what refundWhen: (o) => o.failed does for a tool error).
      const CALLS = 300;
      for (let round = 0; round < CALLS / 10; round++) {
        const decisions = await Promise.all(
          Array.from({ length: 10 }, () => limiter.consume('user:mallory')),
        );
        expect(decisions.every((decision) => decision.allowed)).toBe(true);
        await Promise.all(decisions.map((decision) => limiter.refund(decision)));
      }
      const marks = await keysMatching(client, '*!refund:*');
      expect(marks.length).toBe(CALLS); // one per refund: what a re-sent one would find
      // Each for 2 minutes at most (plus the store's extra TTL), not the day of the limit's window.
      const ttls = await Promise.all(marks.map((mark) => client.pttl(mark)));
      expect(Math.max(...ttls)).toBeLessThanOrEqual(120_000 + 1_000);
      expect(Math.min(...ttls)).toBeGreaterThan(0);
    } finally {
      await store.close();
      client.disconnect();
    }
  }, 60_000);

  // Attack review 9: the outage policy keeps a release whose reply was lost until the store answers
  // again, however long that takes; with a mark gone after 2 minutes, one sent after a longer
  // outage ran twice and freed another running call's lease of the same expiry.
  test("a release's mark lives as long as its lease: sent again after a long outage, it runs once", async () => {
    const client = new Redis(server.url);
    client.on('error', () => undefined);
    const store = new RedisStore({ client });
    try {
      const limiter = createRateLimiter({
        name: 'long-lease',
        limits: [new ConcurrencyLimit({ maxConcurrent: 2, leaseSeconds: 600 })],
        store,
        logger: quiet,
      });
      const decision = await limiter.consume('user:alice');
      expect(decision.allowed).toBe(true);
      await decision.release();
      const [mark] = await keysMatching(client, '*long-lease*!refund:*');
      expect(await client.pttl(mark)).toBeGreaterThan(590_000);
    } finally {
      await store.close();
      client.disconnect();
    }
  });
});

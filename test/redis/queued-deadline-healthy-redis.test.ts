// Attack review 8 (fix of review 7: "RedisStore: a call waits for Redis at most commandTimeoutMs
// from when it is made, queued or not"). The deadline of a batch that waits behind the two script
// calls in flight now runs from when it starts to wait. The watchdog spares a lane only when a reply
// of it arrived in the very poll phase between its timer-phase suspicion and its check-phase
// decision (`lane.lastReplyMs >= suspectedAtMs`); a Redis that answers every script call within a
// millisecond but not in that one poll phase counts as silent. So when calls come faster than one
// Redis can take them (a client's burst: it only has to send requests), the queued batches pass
// their deadline while Redis keeps answering, and are failed as "Redis did not answer": the outage
// policy then decides every subject's calls on the instance (here 'deny': every user is refused;
// with 'allow', everyone is admitted without limit). Before the fix: not one call so decided.
// Redis that keeps answering is not down; its answers must decide the calls, the victim's included.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { FixedWindowRateLimit } from '../../src/core/limits.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { redisDescribe } from './redis-available.js';
import { TestRedisServer } from './redis-server.js';

const describeRedis = await redisDescribe('queued calls on a healthy Redis', {
  ownServers: true,
});

describeRedis('RedisStore: a burst of calls on a healthy Redis', () => {
  let server: TestRedisServer;
  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort();
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('no call is decided by the outage policy while Redis answers, and another user is served', async () => {
    const store = RedisStore.fromUrl(server.url, { commandTimeoutMs: 300 });
    const warnings: string[] = [];
    try {
      const limiter = createRateLimiter({
        name: 'burst',
        limits: [new FixedWindowRateLimit({ maxCalls: 10, perSeconds: 3600 })],
        store,
        logger: { warn: (message: string) => warnings.push(message) },
        onStoreError: 'deny',
      });
      expect((await limiter.consume('user:warm-up')).allowed).toBe(true);

      // The attacker's burst, on its own subject: Redis denies all but 10 of them, promptly. A few
      // rounds (how deep the queue gets depends on the machine's load).
      let victimAllowed = true;
      for (let round = 0; round < 3 && warnings.length === 0 && victimAllowed; round++) {
        const burst = await Promise.all(
          Array.from({ length: 80_000 }, () => limiter.consume(`user:mallory:${round}`)),
        );
        expect(burst.filter((decision) => decision.allowed).length).toBeLessThanOrEqual(10);
        victimAllowed = (await limiter.consume(`user:victim:${round}`)).allowed;
      }
      expect({ victimAllowed, warnings }).toEqual({ victimAllowed: true, warnings: [] });
    } finally {
      await store.close();
    }
    // Up to 240,000 calls: ~15 s alone, 80 s beside a loaded suite.
  }, 150_000);
});

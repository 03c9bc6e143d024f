// Attack review 9. ResilientStore keeps the ConcurrencyLimit releases the store failed to take, to
// send them again once it answers (review 7), at most 10 000 calls' worth, the oldest dropped
// first. It keeps every release that fails, including those of calls the outage policy decided
// (LimitOutcome.decidedByPolicy): such a call never took a lease in the store, so its release frees
// nothing there, yet it takes a place in the buffer. During an outage of one instance's path to
// Redis, an attacker's own short calls (each admitted by the insurance policy, each released)
// push out a victim's release: the victim's call took its lease in Redis before the outage and
// ended during it. After the recovery the victim's lease stays in Redis until it expires
// (leaseSeconds, here 10 minutes): the victim is refused on every instance though nothing of theirs
// runs. What must hold: the victim's slot comes back once Redis answers again (e.g. releases of
// policy-decided calls are not kept, they hold nothing in the store).
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { ConcurrencyLimit } from '../../src/core/limits.js';
import { ResilientStore } from '../../src/core/stores/insurance.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { connectNodeRedis } from './clients.js';
import { redisDescribe } from './redis-available.js';
import { TestRedisServer } from './redis-server.js';
import { TcpProxy } from './tcp-proxy.js';

const describeRedis = await redisDescribe('unsent releases flooded', { ownServers: true });
const quiet = { warn: () => undefined };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeRedis('ResilientStore + RedisStore: the kept releases during an outage', () => {
  let server: TestRedisServer;
  let proxy: TcpProxy;
  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort();
  });
  afterAll(async () => {
    await server?.stop();
  });
  beforeEach(async () => {
    proxy = new TcpProxy(server.port);
    await proxy.start();
  });
  afterEach(async () => {
    await proxy.stop();
  });

  test("another subject's policy-decided calls do not push a victim's release out", async () => {
    const client = await connectNodeRedis(proxy.url);
    const store = new RedisStore({ client });
    const storeB = RedisStore.fromUrl(server.url);
    const limits = () => [new ConcurrencyLimit({ maxConcurrent: 1, leaseSeconds: 600 })];
    try {
      const limiter = createRateLimiter({
        name: 'flooded',
        limits: limits(),
        store,
        logger: quiet,
        retryIntervalMs: 50,
      });
      const resilient = limiter.engine.store as ResilientStore;
      // The victim's call takes its lease in Redis.
      const victim = await limiter.consume('user:victim');
      expect(victim.allowed).toBe(true);

      // This instance loses its path to Redis; the victim's call ends meanwhile.
      proxy.cut();
      await sleep(100);
      await victim.release();
      await sleep(50);
      expect(resilient.degraded).toBe(true);

      // The attacker's short calls, one after the other, admitted by the insurance policy.
      for (let i = 0; i < 10_050; i++) {
        const call = await limiter.consume('user:attacker');
        await call.release();
      }
      await sleep(200);

      proxy.heal();
      // Recovery: calls of other subjects probe the store until it answers again; the kept
      // releases are sent then.
      const end = Date.now() + 15_000;
      while (resilient.degraded) {
        if (Date.now() > end) throw new Error('not recovered');
        await (await limiter.consume('user:probe')).release();
        await sleep(60);
      }
      await sleep(500);

      // Another instance asks Redis: nothing of the victim's runs.
      const other = createRateLimiter({
        name: 'flooded',
        limits: limits(),
        store: storeB,
        logger: quiet,
      });
      const again = await other.consume('user:victim');
      expect(again.allowed).toBe(true);
      await again.release();
    } finally {
      await store.close();
      await storeB.close();
      await client.close().catch(() => undefined);
    }
  }, 60_000);
});

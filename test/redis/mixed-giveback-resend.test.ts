// Attack review 9. Review 8's fix (a5b7228): "the mark is now the same for every sending of one
// refund (by its first check), so Redis runs it once". It holds only when the re-sent refund starts
// with the same check object. ResilientStore's discrepancy give-back (the store admitted a call its
// own record denies: Redis lost its state) sends ONE refund mixing the call's rate limits and its
// ConcurrencyLimit lease (first check: the rate limit's). When that refund runs but its reply is
// lost with the connection (node-redis: "outcome unknown" reads as "never ran"), sendRefund re-sends
// only its releases: a new array whose first check is the lease's, so a new mark, and Redis runs
// the release a second time. The second run frees another lease of the same expiry: the slot of a
// call of the same subject admitted in the same script call, still running. The subject then gets
// one concurrent call more than maxConcurrent (on any instance).
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { ConcurrencyLimit, FixedWindowRateLimit } from '../../src/core/limits.js';
import { ResilientStore } from '../../src/core/stores/insurance.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { connectNodeRedis } from './clients.js';
import { redisDescribe } from './redis-available.js';
import { TestRedisServer } from './redis-server.js';
import { TcpProxy } from './tcp-proxy.js';

const describeRedis = await redisDescribe('mixed give-back resend', { ownServers: true });
const quiet = { warn: () => undefined };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeRedis(
  'ResilientStore + RedisStore (node-redis): a lost give-back of rates and a lease',
  () => {
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

    test('is run once: a running call of the same subject keeps its slot', async () => {
      const client = await connectNodeRedis(proxy.url);
      const store = new RedisStore({ client });
      const storeB = RedisStore.fromUrl(server.url);
      try {
        const limiter = createRateLimiter({
          name: 'mixed',
          limits: [
            new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 3_600 }),
            new ConcurrencyLimit({ maxConcurrent: 2, leaseSeconds: 600 }),
          ],
          store,
          logger: quiet,
          retryIntervalMs: 50,
        });
        const resilient = limiter.engine.store as ResilientStore;
        await (await limiter.consume('user:warm-up')).release();
        // One earlier call of alice, ended: this instance's own record counts it.
        await (await limiter.consume('user:alice')).release();
        // Redis loses its state (restart without persistence, eviction).
        await server.cli('FLUSHALL');

        // From the give-back on, replies are lost (the command still runs in Redis).
        proxy.holdWhenSent(/!refund:/);
        // Two calls of alice in one script call (one Redis time: one lease expiry). Redis admits
        // both; the own record admits the first and denies the second (3 > 2): its give-back mixes
        // its fixed-window unit and its lease.
        const [running, givenBack] = await Promise.all([
          limiter.consume('user:alice'),
          limiter.consume('user:alice'),
        ]);
        expect([running.allowed, givenBack.allowed]).toEqual([true, false]);
        await sleep(100);
        proxy.cut();
        await sleep(100);
        proxy.heal();

        const end = Date.now() + 10_000;
        while (resilient.degraded) {
          if (Date.now() > end) throw new Error('not recovered');
          const probe = await limiter.consume(`user:probe-${Date.now()}`);
          await probe.release();
          await sleep(60);
        }
        await sleep(300); // kept releases are sent again on recovery

        // `running` still runs: alice holds one slot of two. Another instance asks Redis.
        const other = createRateLimiter({
          name: 'mixed',
          limits: [new ConcurrencyLimit({ maxConcurrent: 2, leaseSeconds: 600 })],
          store: storeB,
          logger: quiet,
        });
        const third = await other.consume('user:alice');
        const fourth = await other.consume('user:alice');
        expect({ third: third.allowed, fourth: fourth.allowed }).toEqual({
          third: true,
          fourth: false,
        });
        await third.release();
        await fourth.release();
        await running.release();
      } finally {
        await store.close();
        await storeB.close();
        await client.close().catch(() => undefined);
      }
    });
  },
);

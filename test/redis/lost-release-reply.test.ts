// Attack review 8 (fix of review 7: a ConcurrencyLimit release the store failed to take is kept and
// sent again once it answers; "a release whose command timed out is sent again only once its late
// reply says it never ran: a second run could free another call's lease of the same instant").
// With node-redis (no re-send after a reconnect) a release whose command reached Redis and ran, but
// whose reply was lost with the connection, has a late answer of `undefined` ("nothing known to have
// been taken"), which ResilientStore takes for "never ran": it sends the release again after the
// recovery, and that second run (a new mark, so not caught as a duplicate) removes another lease of
// the same expiry: a call of the same subject still running loses its slot, and the subject gets
// one concurrent call more than maxConcurrent. A release whose fate is unknown must not be sent
// again (or must be sent with the same mark, so that Redis runs it once).
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { ConcurrencyLimit } from '../../src/core/limits.js';
import { ResilientStore } from '../../src/core/stores/insurance.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { connectNodeRedis } from './clients.js';
import { redisDescribe } from './redis-available.js';
import { TestRedisServer } from './redis-server.js';
import { TcpProxy } from './tcp-proxy.js';

const describeRedis = await redisDescribe('lost release reply', { ownServers: true });
const quiet = { warn: () => undefined };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeRedis('ResilientStore + RedisStore (node-redis): a release whose reply was lost', () => {
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

  test('is not run twice: a running call of the same subject keeps its slot', async () => {
    const client = await connectNodeRedis(proxy.url);
    const store = new RedisStore({ client: client });
    const storeB = RedisStore.fromUrl(server.url);
    try {
      const limiter = createRateLimiter({
        name: 'lost-release',
        limits: [new ConcurrencyLimit({ maxConcurrent: 2, leaseSeconds: 600 })],
        store,
        logger: quiet,
        retryIntervalMs: 50,
      });
      const resilient = limiter.engine.store as ResilientStore;
      await (await limiter.consume('user:warm-up')).release();

      // Two calls of alice in the same tick: one script call, one Redis time, one lease expiry.
      const [first, second] = await Promise.all([
        limiter.consume('user:alice'),
        limiter.consume('user:alice'),
      ]);
      expect([first.allowed, second.allowed]).toEqual([true, true]);

      // The first call ends. Its release reaches Redis and runs; its reply is lost with the
      // connection.
      proxy.hold();
      void first.release();
      await sleep(100);
      proxy.cut();
      await sleep(100);
      proxy.heal();

      // Recovery: other subjects' calls probe the store until it answers again.
      const end = Date.now() + 10_000;
      while (resilient.degraded) {
        if (Date.now() > end) throw new Error('not recovered');
        const probe = await limiter.consume('user:probe');
        await probe.release();
        await sleep(60);
      }
      await sleep(300); // the kept releases are sent again on recovery

      // The second call still runs: alice holds one slot of two. Another instance (its own record
      // knows nothing of alice) asks Redis.
      const other = createRateLimiter({
        name: 'lost-release',
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
      await second.release();
    } finally {
      await store.close();
      await storeB.close();
      await client.close().catch(() => undefined);
    }
  });
});

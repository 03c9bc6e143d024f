// Found by attack review 7: a user's ioredis client (default options: autoResendUnfulfilledCommands
// and the offline queue on) re-sends, after it reconnects, the commands whose replies it had not
// received when its connection dropped. RedisStore has settled those calls by then (the outage
// policy decided them), so what the re-sent script call does in Redis must still be accounted for:
// a ConcurrencyLimit slot it takes is freed when the call releases (its late reply is heeded, as a
// timed-out call's is), and a refund or release that had already run gives back nothing a second
// time (a second release would free another call's slot whose lease expires at the same moment).
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { Redis } from 'ioredis';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { ConcurrencyLimit, FixedWindowRateLimit } from '../../src/core/limits.js';
import { ResilientStore } from '../../src/core/stores/insurance.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { redisDescribe } from './redis-available.js';
import { TestRedisServer } from './redis-server.js';
import { TcpProxy } from './tcp-proxy.js';

const describeRedis = await redisDescribe('RedisStore: commands re-sent after a reconnect', {
  ownServers: true,
});
const quiet = { warn: () => undefined };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const LONG = 365 * 24 * 3600;

describeRedis('RedisStore: commands a user ioredis client re-sends after a reconnect', () => {
  let server: TestRedisServer;
  let proxy: TcpProxy;
  let client: Redis;
  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort();
  });
  afterAll(async () => {
    await server?.stop();
  });
  beforeEach(async () => {
    proxy = new TcpProxy(server.port);
    await proxy.start();
    // Default options: commands in flight when the connection drops are sent again.
    client = new Redis(proxy.url, { lazyConnect: true });
    client.on('error', () => undefined);
    await client.connect();
  });
  afterEach(async () => {
    client.disconnect();
    await proxy.stop();
  });

  async function reconnected(): Promise<void> {
    const end = Date.now() + 10_000;
    while (client.status !== 'ready') {
      if (Date.now() > end) throw new Error('not reconnected');
      await sleep(50);
    }
  }

  test('a ConcurrencyLimit slot the re-sent evaluation took is freed when the call releases', async () => {
    const store = new RedisStore({ client });
    try {
      const limiter = createRateLimiter({
        name: 'resent',
        limits: [new ConcurrencyLimit({ maxConcurrent: 1, leaseSeconds: 60 })],
        store,
        logger: quiet,
        retryIntervalMs: 50,
      });
      const resilient = limiter.engine.store as ResilientStore;
      const warm = await limiter.consume('user:warm-up');
      await warm.release();

      // The call's command leaves, and the connection drops before Redis gets it.
      proxy.blackhole();
      const pending = limiter.consume('user:alice');
      await sleep(50);
      proxy.cut();
      const decision = await pending;
      expect(decision.allowed).toBe(true); // the policy (insurance) admitted it

      // The connection comes back; ioredis re-sends what was in flight, which takes alice's slot.
      proxy.heal();
      const end = Date.now() + 10_000;
      while (resilient.degraded || client.status !== 'ready') {
        if (Date.now() > end) throw new Error('not recovered');
        const probe = await limiter.consume('user:probe');
        await probe.release();
        await sleep(50);
      }
      await sleep(200);
      // While the call runs, Redis counts it: another instance would not admit a second one.
      expect((await limiter.peek('user:alice')).allowed).toBe(false);

      // The call ends: nothing of alice's runs any more.
      await decision.release();
      await sleep(100);

      const next = await limiter.consume('user:alice');
      expect(next.allowed).toBe(true);
      await next.release();
    } finally {
      await store.close();
    }
  });

  test('a refund that ran, but whose reply was lost with the connection, gives back once when re-sent', async () => {
    const storeA = new RedisStore({ client });
    const storeB = RedisStore.fromUrl(server.url);
    try {
      const make = (store: RedisStore) =>
        createRateLimiter({
          name: 'resent-refund',
          limits: [new FixedWindowRateLimit({ maxCalls: 3, perSeconds: LONG })],
          store,
          logger: quiet,
          retryIntervalMs: 50,
        });
      const a = make(storeA); // instance A, whose connection drops
      const b = make(storeB); // instance B
      const subject = 'user:carol';
      const first = await a.consume(subject);
      expect(first.allowed).toBe(true);
      expect((await a.consume(subject)).allowed).toBe(true);
      expect((await a.consume(subject)).allowed).toBe(true);

      // The first call failed: its refund runs in Redis, and the connection drops before the reply.
      proxy.hold();
      const refunded = a.refund(first);
      await sleep(100);
      proxy.cut();
      await refunded;
      proxy.heal();
      await reconnected();
      await sleep(300);

      // 3 admitted, 1 given back: one more call fits, not two.
      let admitted = 0;
      for (let call = 0; call < 3; call++) if ((await b.consume(subject)).allowed) admitted++;
      expect(admitted).toBe(1);
    } finally {
      await storeA.close();
      await storeB.close();
    }
  });
  test("a release that ran, but whose reply was lost with the connection, frees no other call's slot when re-sent", async () => {
    const store = new RedisStore({ client });
    try {
      const limiter = createRateLimiter({
        name: 'resent-release',
        limits: [new ConcurrencyLimit({ maxConcurrent: 2, leaseSeconds: 60 })],
        store,
        logger: quiet,
        retryIntervalMs: 50,
      });
      // Two calls of one tick: one script call, one Redis time, two leases alike.
      const [first, second] = await Promise.all([
        limiter.consume('user:dave'),
        limiter.consume('user:dave'),
      ]);
      expect([first.allowed, second.allowed]).toEqual([true, true]);

      // The first call ends: its release runs in Redis, and the connection drops before the reply.
      proxy.hold();
      const released = first.release().catch(() => undefined);
      await sleep(100);
      proxy.cut();
      await released;
      proxy.heal();
      await reconnected();
      await sleep(300);

      // The second call still runs: one slot is free, not two.
      const other = RedisStore.fromUrl(server.url);
      try {
        const observer = createRateLimiter({
          name: 'resent-release',
          limits: [new ConcurrencyLimit({ maxConcurrent: 2, leaseSeconds: 60 })],
          store: other,
          logger: quiet,
        });
        expect((await observer.consume('user:dave')).allowed).toBe(true);
        expect((await observer.consume('user:dave')).allowed).toBe(false);
      } finally {
        await other.close();
      }
      await second.release();
    } finally {
      await store.close();
    }
  });
});

// ConcurrencyLimit releases that a Redis outage or a lost reply puts in doubt, with the outage
// policy in front of node-redis (no re-send of its own after a reconnect), through a TCP proxy that
// cuts one instance's path to Redis. Found by attack reviews 8 and 9; each case failed before its
// fix. What must hold in every case: a release runs in Redis once, so no running call of the same
// subject loses its slot (one call over maxConcurrent), and a lease left in Redis is freed once it
// answers again.
//
// - A release whose command ran but whose reply was lost: the policy sends it again after the
//   recovery; a new mark let that second run free another running call's lease of the same expiry.
// - The give-back of a lost-state discrepancy mixed rate limits and a lease in one refund; its
//   release, re-sent alone under a new mark, ran twice.
// - The policy kept every failed release, those of calls it decided itself (which hold nothing in
//   Redis) too: an attacker's 10,050 such calls pushed a victim's real release out of the bounded
//   buffer, and the victim's lease locked it out for 10 minutes after the recovery.
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { ConcurrencyLimit, FixedWindowRateLimit } from '../../src/core/limits.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { ResilientStore } from '../../src/core/stores/insurance.js';
import { createRateLimiter, type RateLimiter } from '../../src/core/create-rate-limiter.js';
import { TcpProxy } from './tcp-proxy.js';
import { TestRedisServer } from './redis-server.js';
import { connectNodeRedis } from './clients.js';
import { redisDescribe } from './redis-available.js';

const describeRedis = await redisDescribe('releases in doubt', { ownServers: true });
const quiet = { warn: () => undefined };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Other subjects' calls (named by `probe`) probe the store until it answers again; then the kept
 * releases get `settleMs` to be sent.
 */
async function recovered(
  limiter: RateLimiter,
  probe: () => string,
  withinMs: number,
  settleMs: number,
): Promise<void> {
  const resilient = limiter.engine.store as ResilientStore;
  const end = Date.now() + withinMs;
  while (resilient.degraded) {
    if (Date.now() > end) throw new Error('not recovered');
    await (await limiter.consume(probe())).release();
    await sleep(60);
  }
  await sleep(settleMs);
}

/**
 * Whether another instance (its own record knows nothing of alice) gets a third and a fourth call
 * of alice from Redis, under `name`'s 2 slots; both are released after.
 */
async function aliceCallsElsewhere(
  store: RedisStore,
  name: string,
): Promise<{ third: boolean; fourth: boolean }> {
  const other = createRateLimiter({
    name,
    limits: [new ConcurrencyLimit({ maxConcurrent: 2, leaseSeconds: 600 })],
    store,
    logger: quiet,
  });
  const third = await other.consume('user:alice');
  const fourth = await other.consume('user:alice');
  await third.release();
  await fourth.release();
  return { third: third.allowed, fourth: fourth.allowed };
}

describeRedis('ResilientStore + RedisStore (node-redis): releases in doubt', () => {
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

  test('a release whose reply was lost is not run twice: a running call of the same subject keeps its slot', async () => {
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
      await recovered(limiter, () => 'user:probe', 10_000, 300);

      // The second call still runs: alice holds one slot of two. Another instance (its own record
      // knows nothing of alice) asks Redis.
      expect(await aliceCallsElsewhere(storeB, 'lost-release')).toEqual({
        third: true,
        fourth: false,
      });
      await second.release();
    } finally {
      await store.close();
      await storeB.close();
      await client.close().catch(() => undefined);
    }
  });

  test('the release of a lost give-back of rates and a lease is run once: the other call keeps its slot', async () => {
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

      await recovered(limiter, () => `user:probe-${Date.now()}`, 10_000, 300);

      // `running` still runs: alice holds one slot of two. Another instance asks Redis.
      expect(await aliceCallsElsewhere(storeB, 'mixed')).toEqual({ third: true, fourth: false });
      await running.release();
    } finally {
      await store.close();
      await storeB.close();
      await client.close().catch(() => undefined);
    }
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
      await recovered(limiter, () => 'user:probe', 15_000, 500);

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

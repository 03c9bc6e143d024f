// A reset on Redis marks the keys it resets (`<key>!reset`, Redis's time of the reset), so that
// every instance learns of it: a refund of a call admitted before it gives nothing back, and an
// instance's own record (the insurance) starts afresh instead of taking the fresh state for lost.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { connectNodeRedis } from './clients.js';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import {
  FixedWindowRateLimit,
  GcraRateLimit,
  TokenBucketRateLimit,
  type BuiltInRateLimit,
} from '../../src/core/limits.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { redisDescribe } from './redis-available.js';
import { TestRedisServer } from './redis-server.js';

// A private redis-server: the tests list its keys and flush it.
const describeRedis = await redisDescribe('reset markers on a private redis-server', {
  ownServers: true,
});

describeRedis('reset markers on a private redis-server', () => {
  let server: TestRedisServer;
  let client: Awaited<ReturnType<typeof connectNodeRedis>>;
  const stores: RedisStore[] = [];

  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort();
    client = await connectNodeRedis(server.url);
  });
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await client?.close();
    await server?.stop();
  });

  function newStore(): RedisStore {
    const store = RedisStore.fromUrl(server.url);
    stores.push(store);
    return store;
  }

  test('a reset marks only keys that had state, for no longer than their state would have lasted', async () => {
    await client.flushAll();
    const store = newStore();
    // A bucket of 1 refilled at 1 per second: a call's state lives 1000 ms.
    const limiter = createRateLimiter({
      name: 'marks',
      limits: [new TokenBucketRateLimit({ capacity: 1, refillPerSecond: 1 })],
      store,
    });
    expect((await limiter.consume('customer:1')).allowed).toBe(true);
    const [key] = await client.keys('*');
    const stateTtlMs = await client.pTTL(key);
    expect(stateTtlMs).toBeGreaterThan(0);

    await limiter.reset('customer:1');
    await limiter.reset('customer:2'); // no state: no mark
    expect(await client.keys('*')).toEqual([`${key}!reset`]);
    const markTtlMs = await client.pTTL(`${key}!reset`);
    expect(markTtlMs).toBeGreaterThan(0);
    expect(markTtlMs).toBeLessThanOrEqual(stateTtlMs);
    const [mark] = await store.resetAt([key]);
    expect(mark?.leftMs).toBeLessThanOrEqual(stateTtlMs);

    await new Promise((resolve) => setTimeout(resolve, markTtlMs + 50));
    expect(await client.keys('*')).toEqual([]);
    expect(await store.resetAt([key])).toEqual([undefined]);
  });

  test.each<[string, () => BuiltInRateLimit]>([
    ['fixed window', () => new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 3600 })],
    ['token bucket', () => new TokenBucketRateLimit({ capacity: 3, refillPerSecond: 0.001 })],
    ['GCRA', () => new GcraRateLimit({ ratePerSecond: 0.001, burst: 3 })],
  ])(
    '%s: the store gives nothing back for a call admitted before a reset of its key',
    async (name, makeLimit) => {
      const store = newStore();
      const check = { key: `same:{42}${name}`, limit: makeLimit(), cost: 1 };
      const [before] = await store.evaluate([check]);
      expect(before.allowed).toBe(true);
      await store.reset([check.key]);
      for (let call = 0; call < 3; call++) {
        expect((await store.evaluate([check]))[0].allowed).toBe(true);
      }
      // The engine's receipt names the admission by the store's time of it. Nothing given back:
      // neither a unit (fixed window) nor an earlier full quota (bucket, GCRA).
      const [used] = await store.peek([check]);
      await store.refund([{ ...check, admittedAtMs: before.atMs }]);
      const [kept] = await store.peek([check]);
      expect([used.allowed, kept.allowed, kept.remaining]).toEqual([false, false, used.remaining]);
      expect(kept.resetAfterMs).toBeGreaterThan(used.resetAfterMs - 1000);
      // A call admitted after the reset is given back as before.
      const after = { ...check, key: `same:{43}${name}` };
      const [admitted] = await store.evaluate([after]);
      await store.reset([after.key]);
      const [fresh] = await store.evaluate([after]);
      expect(admitted.allowed && fresh.allowed).toBe(true);
      const [held] = await store.peek([after]);
      await store.refund([{ ...after, admittedAtMs: fresh.atMs }]);
      // Given back: a unit more (fixed window), or a full quota far sooner (bucket, GCRA).
      const [given] = await store.peek([after]);
      expect(given.remaining > held.remaining || given.resetAfterMs < held.resetAfterMs / 2).toBe(
        true,
      );
    },
  );

  test('state lost after a reset is still caught by the insurance of every instance', async () => {
    await client.flushAll();
    const [admin, serving] = [newStore(), newStore()].map((store) =>
      createRateLimiter({
        name: 'lost',
        limits: [new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 3600 })],
        store,
      }),
    );
    const subject = 'customer:7';
    const admitted = async (): Promise<boolean> => (await serving.consume(subject)).allowed;
    expect([await admitted(), await admitted(), await admitted()]).toEqual([true, true, false]);

    // A reset made on the other instance: the serving one learns of it from the mark.
    await admin.reset(subject);
    expect([await admitted(), await admitted(), await admitted()]).toEqual([true, true, false]);

    // Redis loses everything (a restart without persistence): no mark, so the lost state is
    // caught as before, the record still holding this instance's two calls.
    await client.flushAll();
    expect(await admitted()).toBe(false);

    // Another reset, learned; then Redis loses the key's state but keeps the mark (an eviction):
    // a reset is learned once, so the record is not emptied again.
    await admin.reset(subject);
    expect([await admitted(), await admitted()]).toEqual([true, true]);
    const keys = await client.keys('*');
    // Neither reset markers nor the marks refunds leave.
    const state = keys.filter((key) => !key.endsWith('!reset') && !key.includes('!refund:'));
    expect(state).toHaveLength(1);
    await client.del(state);
    expect(await admitted()).toBe(false);
  });

  test('an instance learns the marks of its own reset: state lost later is still caught', async () => {
    await client.flushAll();
    const limiter = createRateLimiter({
      name: 'own',
      limits: [new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 3600 })],
      store: newStore(),
    });
    const subject = 'customer:8';
    const admitted = async (): Promise<boolean> => (await limiter.consume(subject)).allowed;
    expect([await admitted(), await admitted(), await admitted()]).toEqual([true, true, false]);

    // The reset is made on this instance, then its fresh quota is used up.
    await limiter.reset(subject);
    expect([await admitted(), await admitted(), await admitted()]).toEqual([true, true, false]);

    // Redis loses the key's state but keeps the mark (an eviction): the mark is of a reset this
    // instance already counts from, so its record still holds the two calls since.
    const state = (await client.keys('*')).filter(
      (key) => !key.endsWith('!reset') && !key.includes('!refund:'),
    );
    expect(state).toHaveLength(1);
    await client.del(state);
    expect(await admitted()).toBe(false);
  });
});

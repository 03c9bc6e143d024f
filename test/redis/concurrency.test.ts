// ConcurrencyLimit on Redis across instances: a slot taken by one instance is released by it, or,
// when that instance dies without releasing, comes back once its lease expires (Redis time).
import { afterAll, expect, test } from '@jest/globals';
import { ConcurrencyLimit, createRateLimiter, RedisStore } from '../../src/index.js';
import { uniqueSubject } from './clients.js';
import { REDIS_URL, redisDescribe } from './redis-available.js';

const describeRedis = await redisDescribe('ConcurrencyLimit on Redis');

describeRedis('ConcurrencyLimit on Redis, two instances', () => {
  const stores: RedisStore[] = [];
  const instance = (leaseSeconds: number) => {
    const store = RedisStore.fromUrl(REDIS_URL);
    stores.push(store);
    const limits = [new ConcurrencyLimit({ maxConcurrent: 1, leaseSeconds })];
    return { store, limiter: createRateLimiter({ limits, store, name: 'slow-job' }) };
  };

  afterAll(async () => {
    for (const store of stores) await store.close();
  });

  test("one instance's release frees the slot for the other, once", async () => {
    const subject = uniqueSubject('conc-release');
    const a = instance(60);
    const b = instance(60);
    const held = await a.limiter.consume(subject);
    expect(held.allowed).toBe(true);
    const denied = await b.limiter.consume(subject);
    expect(denied.allowed).toBe(false);
    expect(denied.retryAfter).toBeGreaterThanOrEqual(59);
    await held.release();
    const next = await b.limiter.consume(subject);
    expect(next.allowed).toBe(true);
    await held.release(); // frees nothing: b's call keeps its slot
    expect((await a.limiter.consume(subject)).allowed).toBe(false);
    await next.release();
  });

  test('an instance that dies without releasing: the slot is free once its lease expires', async () => {
    const subject = uniqueSubject('conc-lease');
    const dying = instance(1);
    expect((await dying.limiter.consume(subject)).allowed).toBe(true);
    await dying.store.close(); // gone, mid-call, without a release

    const survivor = instance(1);
    const denied = await survivor.limiter.consume(subject);
    expect(denied.allowed).toBe(false);
    expect(denied.retryAfter).toBe(1);
    expect(denied.retryAfterMs).toBeLessThanOrEqual(1000);
    await new Promise((resolve) => setTimeout(resolve, denied.retryAfterMs + 20));
    const after = await survivor.limiter.consume(subject);
    expect(after.allowed).toBe(true);
    await after.release();
  });
});

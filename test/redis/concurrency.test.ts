// ConcurrencyLimit on Redis across instances: a slot taken by one instance is released by it, or,
// when that instance dies without releasing, comes back once its lease expires (Redis time).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  ConcurrencyLimit,
  createRateLimiter,
  RedisStore,
  SlidingWindowRateLimit,
  type RateLimitDecision,
} from '../../src/index.js';
import { connectClient, uniqueSubject } from './clients.js';
import { REDIS_URL, redisDescribe } from './redis-available.js';
import { TestRedisServer } from './redis-server.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const describeRedis = await redisDescribe('ConcurrencyLimit on Redis');
const describeOwnRedis = await redisDescribe('ConcurrencyLimit on a Redis that stops a moment', {
  ownServers: true,
});

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

  test("an instance's release frees the slot for its own next call (its outage insurance too)", async () => {
    const subject = uniqueSubject('conc-own');
    const { limiter } = instance(60);
    for (let call = 0; call < 3; call++) {
      const decision = await limiter.consume(subject);
      expect(decision.allowed).toBe(true);
      expect((await limiter.consume(subject)).allowed).toBe(false);
      await decision.release();
    }
  });

  test('a sliding window refund gives the unit back to Redis and to the outage insurance', async () => {
    const subject = uniqueSubject('sw-refund');
    const store = RedisStore.fromUrl(REDIS_URL);
    stores.push(store);
    const limits = [new SlidingWindowRateLimit({ maxCalls: 1, perSeconds: 60 })];
    const limiter = createRateLimiter({ limits, store, name: 'sw-refund' });
    for (let call = 0; call < 3; call++) {
      const decision = await limiter.consume(subject);
      expect(decision.allowed).toBe(true);
      await limiter.refund(decision);
    }
  });

  test('Redis lost the state: the insurance denies, and Redis gets back exactly what it admitted', async () => {
    const raw = await connectClient('node-redis', REDIS_URL);
    try {
      const prefix = `conc-lost:${uniqueSubject('p')}:`;
      const store = RedisStore.fromUrl(REDIS_URL);
      stores.push(store);
      const limits = [new ConcurrencyLimit({ maxConcurrent: 1 })];
      const limiter = createRateLimiter({ limits, store, name: 'lost', prefix });
      const held = await limiter.consume('user:1');
      expect(held.allowed).toBe(true);
      const [key] = (await raw.command(['KEYS', `${prefix}*`])) as string[];
      await raw.command(['DEL', key]); // flushed, restarted without persistence, evicted
      // Redis admits (it forgot the slot); this instance's own record still holds it: denied.
      expect((await limiter.consume('user:1')).allowed).toBe(false);
      await new Promise((resolve) => setTimeout(resolve, 50)); // the give-back is not awaited
      expect(await raw.command(['LLEN', key])).toBe(0);
      await held.release();
      const next = await limiter.consume('user:1');
      expect(next.allowed).toBe(true);
      await next.release();
    } finally {
      await raw.quit();
    }
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

describeOwnRedis('ConcurrencyLimit on a Redis that stops a moment', () => {
  let server: TestRedisServer;
  let store: RedisStore | undefined;

  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort();
  });

  const opened: RedisStore[] = [];

  afterAll(async () => {
    await store?.close();
    for (const own of opened) await own.close();
    await server?.stop();
  });

  /** One slot per subject, over its own connection to the server that stops (one instance). */
  const slotLimiter = (name: string) => {
    const own = RedisStore.fromUrl(server.url, { commandTimeoutMs: 200 });
    opened.push(own);
    return createRateLimiter({
      limits: [new ConcurrencyLimit({ maxConcurrent: 1 })],
      store: own,
      name,
      retryIntervalMs: 50,
      logger: { warn: () => undefined },
    });
  };

  test('a call that ends after one failed store call, once Redis answers again, frees its slot in Redis', async () => {
    store = RedisStore.fromUrl(server.url, { commandTimeoutMs: 200 });
    const limiter = createRateLimiter({
      limits: [new ConcurrencyLimit({ maxConcurrent: 1 })],
      store,
      name: 'blip',
      retryIntervalMs: 50,
      logger: { warn: () => undefined },
    });
    const held = await limiter.consume('user:1');
    expect(held.allowed).toBe(true);
    server.signal('SIGSTOP');
    try {
      // Another user's call times out: the insurance decides it, the store counts as down.
      expect((await limiter.consume('user:2')).allowed).toBe(true);
    } finally {
      server.signal('SIGCONT');
    }
    // The call of user:1 ends with Redis answering again (nothing has tried it since).
    await held.release();
    await new Promise((resolve) => setTimeout(resolve, 150));
    const next = await limiter.consume('user:1');
    expect(next.allowed).toBe(true);
    await next.release();
  });
  // The call's command reached Redis before it froze and runs when it thaws, taking a lease at
  // Redis's time that the call's release (named by when the policy decided it) does not match: the
  // late reply says which lease it took, and the release frees that one too.
  test('a call decided by the policy after its command timed out frees the slot its late command took', async () => {
    const limiter = slotLimiter('late');
    expect((await limiter.consume('user:warm')).allowed).toBe(true); // connected
    server.signal('SIGSTOP');
    let timedOut: RateLimitDecision;
    try {
      timedOut = await limiter.consume('user:3');
      expect(timedOut.allowed).toBe(true);
    } finally {
      server.signal('SIGCONT');
    }
    await timedOut.release(); // the call ended
    await sleep(150);
    expect((await limiter.consume('user:3')).allowed).toBe(true);
  });

  test('the late lease is held while its call runs (other instances are denied), and freed by its release', async () => {
    const running = slotLimiter('late-before');
    const other = slotLimiter('late-before'); // another instance: knows only what Redis holds
    expect((await running.consume('user:warm')).allowed).toBe(true); // connected
    expect((await other.consume('user:warm-other')).allowed).toBe(true);
    server.signal('SIGSTOP');
    let timedOut: RateLimitDecision;
    try {
      timedOut = await running.consume('user:4');
      expect(timedOut.allowed).toBe(true);
    } finally {
      server.signal('SIGCONT');
    }
    // Past retryIntervalMs this instance asks Redis again; its reply comes after the late one.
    await sleep(100);
    expect((await running.consume('user:4')).allowed).toBe(false);
    expect((await other.consume('user:4')).allowed).toBe(false); // Redis counts the running call
    await timedOut.release();
    await sleep(50);
    const next = await other.consume('user:4');
    expect(next.allowed).toBe(true);
    await timedOut.release(); // frees nothing: the other instance's call keeps its slot
    await sleep(50);
    expect((await running.consume('user:4')).allowed).toBe(false);
    await next.release();
  });

  test('a call released before its late reply comes: the late lease is freed when the reply comes', async () => {
    const running = slotLimiter('late-after');
    const other = slotLimiter('late-after');
    expect((await running.consume('user:warm')).allowed).toBe(true); // connected
    expect((await other.consume('user:warm-other')).allowed).toBe(true);
    server.signal('SIGSTOP');
    try {
      const timedOut = await running.consume('user:5');
      expect(timedOut.allowed).toBe(true);
      await timedOut.release(); // the call ended while Redis is still frozen
    } finally {
      server.signal('SIGCONT');
    }
    await sleep(150);
    const next = await other.consume('user:5');
    expect(next.allowed).toBe(true);
    await next.release();
  });
});

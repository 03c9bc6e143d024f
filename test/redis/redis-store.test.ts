import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import KeyvRedis from '@keyv/redis';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { RESP_TYPES } from 'redis';
import { connectNodeRedis } from './clients.js';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import {
  FixedWindowRateLimit,
  GcraRateLimit,
  RateLimitConfigError,
  SlidingWindowRateLimit,
  TokenBucketRateLimit,
} from '../../src/core/limits.js';
import { redisStoreFromCache } from '../../src/core/stores/redis-cache.js';
import type { RedisClientLike } from '../../src/core/stores/redis-client.js';
import { clusterSlotOf } from '../../src/core/stores/redis-slot.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { StoreUnavailableError } from '../../src/core/stores/store.js';
import { redisDescribe } from './redis-available.js';
import { freePorts, TestRedisServer } from './redis-server.js';

// A private redis-server: INFO commandstats and KEYS see only this file's calls.
const describeRedis = await redisDescribe('RedisStore on a private redis-server', {
  ownServers: true,
});

const LONG = 3600;

describeRedis('RedisStore on a private redis-server', () => {
  let server: TestRedisServer;
  let client: Awaited<ReturnType<typeof connectNodeRedis>>;

  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort();
    client = await connectNodeRedis(server.url);
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  async function commandCalls(): Promise<Record<string, number>> {
    const info = await client.info('commandstats');
    const calls: Record<string, number> = {};
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
      calls[match[1]] = Number(match[2]);
    return calls;
  }

  test('the calls of one tick share script calls (up to 128 calls and 256 limits each); a lone call goes out alone at once', async () => {
    // Count what the store sends, too: nothing but the script call leaves the process.
    const sent: string[] = [];
    const counting = {
      ...client,
      isOpen: true,
      isReady: true,
      sendCommand: (args: string[], options?: Parameters<typeof client.sendCommand>[1]) => {
        sent.push(args[0]);
        return client.sendCommand(args, options);
      },
      on: () => undefined,
      listenerCount: () => 1,
      connect: () => client.connect(),
    } as unknown as RedisClientLike;
    const store = new RedisStore({ client: counting });
    const limiter = createRateLimiter({
      limits: [
        new FixedWindowRateLimit({ maxCalls: 1000, perSeconds: LONG }),
        new SlidingWindowRateLimit({ maxCalls: 50, perSeconds: LONG }),
      ],
      store,
      onStoreError: 'deny',
      name: 'test',
    });
    await limiter.consume('user:warm-up'); // loads the script (NOSCRIPT, then EVAL) once
    await client.configResetStat();
    sent.length = 0;

    const calls = 150;
    const decisions = await Promise.all(
      Array.from({ length: calls }, (_, index) => limiter.consume(`user:${index % 4}`)),
    );
    const stats = await commandCalls();
    // 150 two-limit calls of one tick: two script calls, of 128 calls (256 limits) and 22.
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(calls);
    expect(stats.evalsha).toBe(2);
    expect(stats.eval).toBeUndefined();
    expect(sent).toEqual(['EVALSHA', 'EVALSHA']);

    sent.length = 0;
    expect((await limiter.consume('user:lone')).allowed).toBe(true);
    expect(sent).toEqual(['EVALSHA']);
    await store.close();
  });

  test('a batch names at most 94 distinct limits: calls of one tick with more go in two script calls, decided exactly; a call with more is refused', async () => {
    const store = new RedisStore({ client });
    // Two calls of 60 limits each, every limit its own object (its own entry in a batch's table).
    const callChecks = [0, 1].map((call) =>
      Array.from({ length: 60 }, (_, index) => ({
        key: `many:{s${call}}${index}`,
        limit: new FixedWindowRateLimit({ maxCalls: 1, perSeconds: LONG }),
        cost: 1,
      })),
    );
    const first = await Promise.all(callChecks.map((checks) => store.evaluate(checks)));
    expect(first.flat().every((outcome) => outcome.allowed && outcome.remaining === 0)).toBe(true);
    const second = await Promise.all(callChecks.map((checks) => store.evaluate(checks)));
    expect(second.flat().every((outcome) => !outcome.allowed)).toBe(true);
    const tooMany = Array.from({ length: 95 }, (_, index) => ({
      key: `many:{t}${index}`,
      limit: new FixedWindowRateLimit({ maxCalls: 1, perSeconds: LONG }),
      cost: 1,
    }));
    await expect(store.evaluate(tooMany)).rejects.toThrow(RateLimitConfigError);
    await store.close();
  });

  test('one script call decides calls of every shape in order: unit costs (not sent), other costs, peeks, refunds, several limits', async () => {
    const store = new RedisStore({ client });
    const ten = new FixedWindowRateLimit({ maxCalls: 10, perSeconds: LONG });
    const twenty = new FixedWindowRateLimit({ maxCalls: 20, perSeconds: LONG });
    const check = (name: string, cost: number, limit = ten) => ({
      key: `shapes:{s}${name}`,
      limit,
      cost,
    });
    const remaining = (outcomes: Promise<readonly { remaining: number; allowed: boolean }[]>) =>
      outcomes.then((list) => list.map((outcome) => [outcome.allowed, outcome.remaining]));
    const scriptCallsBefore = (await commandCalls()).evalsha ?? 0;
    // All in one tick: one script call, the calls decided one after the other.
    const answers = Promise.all([
      remaining(store.evaluate([check('a', 1)])),
      remaining(store.evaluate([check('b', 3)])),
      remaining(store.evaluate([check('c', 1, twenty), check('d', 2)])),
      remaining(store.peek([check('b', 2)])),
      remaining(store.evaluate([check('e', 1), check('f', 1, twenty), check('g', 1)])),
      store.refund([check('b', 3)]).then(() => 'refunded'),
      remaining(store.evaluate([check('b', 1)])),
      remaining(store.peek([check('a', 1)])),
      remaining(store.evaluate([check('d', 9), check('h', 1)])),
      remaining(store.evaluate([check('h', 2, twenty)])),
    ]);
    expect(await answers).toEqual([
      [[true, 9]],
      [[true, 7]],
      [
        [true, 19],
        [true, 8],
      ],
      [[true, 5]],
      [
        [true, 9],
        [true, 19],
        [true, 9],
      ],
      'refunded',
      [[true, 9]],
      [[true, 8]],
      [
        [false, 8],
        [true, 9],
      ],
      [[true, 18]],
    ]);
    expect((await commandCalls()).evalsha - scriptCallsBefore).toBe(1);
    await store.close();
  });

  test('a reset of more keys than one call may name deletes them all (leaving their reset markers)', async () => {
    const store = new RedisStore({ client });
    const limit = new FixedWindowRateLimit({ maxCalls: 1, perSeconds: LONG });
    const keys = Array.from({ length: 200 }, (_, index) => `wide:{s}${index}`);
    await Promise.all(keys.map((key) => store.evaluate([{ key, limit, cost: 1 }])));
    expect(await client.keys('wide:*')).toHaveLength(200);
    await store.reset(keys);
    const left = await client.keys('wide:*');
    expect(left.sort()).toEqual(keys.map((key) => `${key}!reset`).sort());
    await store.close();
  });

  test('one call of a batch that fails in the script (a foreign value at its key) fails alone', async () => {
    const store = new RedisStore({ client });
    const limit = new FixedWindowRateLimit({ maxCalls: 5, perSeconds: LONG });
    await client.rPush('batch:{foreign}k', 'not ours'); // GET on a list: WRONGTYPE
    const calls = ['batch:{a}k', 'batch:{foreign}k', 'batch:{b}k'].map((key) =>
      store.evaluate([{ key, limit, cost: 1 }]),
    );
    const settled = await Promise.allSettled(calls);
    expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
    expect(String((settled[1] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    expect(
      settled.flatMap((result) =>
        result.status === 'fulfilled' ? result.value.map((outcome) => outcome.remaining) : [],
      ),
    ).toEqual([4, 4]);
    await store.close();
  });

  test('a client that drops the binary reply option gets a clear error, never a decision from garbled bytes', async () => {
    const textOnly = {
      ...client,
      isOpen: true,
      isReady: true,
      sendCommand: (args: string[]) => client.sendCommand(args),
      on: () => undefined,
      listenerCount: () => 1,
      connect: () => client.connect(),
    } as unknown as RedisClientLike;
    const store = new RedisStore({ client: textOnly });
    const check = {
      key: 'text:{a}k',
      limit: new FixedWindowRateLimit({ maxCalls: 2, perSeconds: LONG }),
      cost: 1,
    };
    const failure = store.evaluate([check]);
    await expect(failure).rejects.toThrow(StoreUnavailableError);
    await expect(failure).rejects.toThrow(/typeMapping/);
    await store.close();
  });

  test('after SCRIPT FLUSH (or a restart) the script is loaded again with EVAL, then EVALSHA', async () => {
    const store = new RedisStore({ client: client });
    const limit = new FixedWindowRateLimit({ maxCalls: 2, perSeconds: LONG });
    const check = { key: 'flush:{a}k', limit, cost: 1 };
    await store.evaluate([check]);
    await client.scriptFlush();
    await client.configResetStat();
    const outcomes = [...(await store.evaluate([check])), ...(await store.evaluate([check]))];
    expect(outcomes.map((outcome) => outcome.allowed)).toEqual([true, false]);
    const stats = await commandCalls();
    expect({ eval: stats.eval, evalsha: stats.evalsha }).toEqual({ eval: 1, evalsha: 2 });
  });

  test('every key gets a TTL from its algorithm, with Redis server time', async () => {
    const store = new RedisStore({ client: client });
    const limits = [
      new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 60 }),
      new SlidingWindowRateLimit({ maxCalls: 5, perSeconds: 60 }),
      new TokenBucketRateLimit({ capacity: 5, refillPerSecond: 0.5 }),
      new GcraRateLimit({ ratePerSecond: 0.5, burst: 5 }),
    ];
    const checks = limits.map((limit, index) => ({ key: `ttl:{subject}${index}`, limit, cost: 2 }));
    const outcomes = await store.evaluate(checks);
    expect(outcomes.every((outcome) => outcome.allowed)).toBe(true);
    const ttls = await Promise.all(checks.map((check) => client.pTTL(check.key)));
    // Fixed window: up to the window end; sliding: 60 s; bucket: 2 tokens at 0.5/s = 4 s; GCRA: 2 × 2 s.
    expect(ttls[0]).toBeGreaterThan(0);
    expect(ttls[0]).toBeLessThanOrEqual(60_000);
    expect(ttls[1]).toBeGreaterThan(59_000);
    expect(ttls[1]).toBeLessThanOrEqual(60_000);
    expect(ttls[2]).toBeGreaterThan(3_000);
    expect(ttls[2]).toBeLessThanOrEqual(4_000);
    expect(ttls[3]).toBeGreaterThan(3_000);
    expect(ttls[3]).toBeLessThanOrEqual(4_000);
    expect(outcomes.map((outcome) => outcome.remaining)).toEqual([3, 3, 3, 3]);
  });

  test('a state that is no state (a TTL of 0) is not written: the key is deleted, not SET with PX 0', async () => {
    // Cost 0 on a fresh bucket leaves it full: its TTL is 0, and Redis refuses PX 0.
    const store = new RedisStore({ client: client });
    const limits = [
      new TokenBucketRateLimit({ capacity: 5, refillPerSecond: 0.5 }),
      new GcraRateLimit({ ratePerSecond: 0.5, burst: 5 }),
    ];
    const checks = limits.map((limit, index) => ({
      key: `ttl0:{subject}${index}`,
      limit,
      cost: 0,
    }));
    const outcomes = await store.evaluate(checks);
    expect(outcomes.map((outcome) => [outcome.allowed, outcome.remaining])).toEqual([
      [true, 5],
      [true, 5],
    ]);
    expect(await client.exists(checks.map((check) => check.key))).toBe(0);
  });

  test('keys of one call share a hash tag, hence one Cluster slot', async () => {
    const limiter = createRateLimiter({
      limits: [
        new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 60 }),
        new GcraRateLimit({ ratePerSecond: 1, burst: 5, namespace: 'shared' }),
      ],
      store: new RedisStore({ client: client }),
      prefix: 'slot:',
      name: 'tools/call:search',
    });
    for (const subject of ['user:1', 'ip:10.0.0.1', 'user:{odd}', 'user:}{', 'x'.repeat(400)]) {
      await limiter.consume(subject);
    }
    const keys = await client.keys('slot:*');
    expect(keys.length).toBe(10);
    const slotsBySubject = new Map<string, Set<number>>();
    for (const key of keys) {
      const subject = key.slice(0, key.indexOf('}') + 1);
      slotsBySubject.set(
        subject,
        (slotsBySubject.get(subject) ?? new Set()).add(clusterSlotOf(key)),
      );
    }
    expect(slotsBySubject.size).toBe(5);
    for (const slots of slotsBySubject.values()) expect(slots.size).toBe(1);
  });

  test('a @keyv/redis CACHE_MANAGER gives a RedisStore over its client, in our own keys', async () => {
    const keyvRedis = new KeyvRedis(server.url);
    const cache = createCache({ stores: [new Keyv({ store: keyvRedis, namespace: 'app' })] });
    await cache.set('greeting', { hello: 'world' });
    const store = redisStoreFromCache(cache);
    expect(store).toBeInstanceOf(RedisStore);
    const limiter = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 2, perSeconds: LONG })],
      store: store,
      onStoreError: 'deny',
      prefix: 'fromcache:',
      name: 'test',
    });
    const decisions = [
      await limiter.consume('user:k'),
      await limiter.consume('user:k'),
      await limiter.consume('user:k'),
    ];
    expect(decisions.map((decision) => decision.allowed)).toEqual([true, true, false]);
    // Our state lives under our prefix with the script's encoding; the cache's values are untouched.
    const [key] = await client.keys('fromcache:*');
    const state = await client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).get(key);
    expect(state?.readDoubleLE(8)).toBe(2); // struct.pack('<dd', windowStartMs, count)
    expect(await cache.get('greeting')).toEqual({ hello: 'world' });
    await store?.close();
    await keyvRedis.disconnect();
  });

  test('a cache without @keyv/redis gives no RedisStore', () => {
    expect(redisStoreFromCache(createCache())).toBeUndefined();
    expect(redisStoreFromCache(undefined)).toBeUndefined();
    expect(redisStoreFromCache({ stores: [null, {}] })).toBeUndefined();
  });

  test('the RedisStore built from a URL connects by itself and closes its connection', async () => {
    const store = RedisStore.fromUrl(server.url);
    const limit = new FixedWindowRateLimit({ maxCalls: 1, perSeconds: LONG });
    const check = { key: 'url:{u}k', limit, cost: 1 };
    const outcomes = [...(await store.evaluate([check])), ...(await store.evaluate([check]))];
    expect(outcomes.map((outcome) => outcome.allowed)).toEqual([true, false]);
    await store.close();
    await expect(store.evaluate([check])).rejects.toThrow('RedisStore is closed');
  });

  test('an unreachable Redis rejects promptly with StoreUnavailableError, never hangs', async () => {
    const [deadPort] = await freePorts(1);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const store = RedisStore.fromUrl(`redis://127.0.0.1:${deadPort}`, { commandTimeoutMs: 200 });
    const check = {
      key: 'dead:{d}k',
      limit: new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 1 }),
      cost: 1,
    };
    await expect(store.evaluate([check])).rejects.toMatchObject({ name: 'StoreUnavailableError' });
    await expect(store.evaluate([check])).rejects.toMatchObject({ name: 'StoreUnavailableError' });
    await store.close();
    warn.mockRestore();
  });

  test('bad options fail at construction, naming the field', () => {
    const redisClient = client as unknown as RedisClientLike;
    expect(() => new RedisStore({})).toThrow(RateLimitConfigError);
    expect(() => new RedisStore({ client: redisClient, url: 'redis://x' })).toThrow(
      'exactly one of',
    );
    expect(() => new RedisStore({ url: 'http://x' })).toThrow('"url"');
    expect(() => new RedisStore({ client: redisClient, commandTimeoutMs: 0 })).toThrow(
      '"commandTimeoutMs"',
    );
    expect(() => new RedisStore({ client: redisClient, extraTtlMs: -1 })).toThrow('"extraTtlMs"');
    expect(() => new RedisStore({ client: {} as RedisClientLike })).toThrow(
      'node-redis or ioredis',
    );
  });
});

import { describe, expect, it, jest } from '@jest/globals';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import {
  CacheManagerStore,
  ConcurrencyLimit,
  createRateLimiter,
  FixedWindowRateLimit,
  GcraRateLimit,
  MemoryStore,
  RateLimitConfigError,
  ResilientStore,
  SlidingWindowRateLimit,
  StoreTimeoutError,
  StoreUnavailableError,
  TokenBucketRateLimit,
  type LimitCheck,
  type RateLimitStore,
} from '../../src/index.js';

const limit = new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 10 });
const check = (key = 'k', cost = 1): LimitCheck => ({ key, limit, cost });

/** A Keyv storage adapter whose every operation fails, as a dead backend's would. */
function brokenKeyvStore() {
  const fail = async () => {
    throw new Error('connection refused');
  };
  return { get: fail, set: fail, delete: fail, clear: fail, on: () => undefined, opts: {} };
}

describe('MemoryStore', () => {
  it('sweeps expired keys and never keeps the process alive', async () => {
    let nowMs = 1_000_000;
    const store = new MemoryStore({ clock: () => nowMs });
    for (let index = 0; index < 100; index++) await store.evaluate([check(`k${index}`)]);
    expect(store.size).toBe(100);
    const timer = (store as unknown as { sweepTimer: NodeJS.Timeout }).sweepTimer;
    expect(timer.hasRef()).toBe(false);
    nowMs += 10_000;
    store.sweep();
    expect(store.size).toBe(0);
    store.close();
  });

  it('sweeps the keys the engine holds (one limit, several limits, a sliding window) and starts afresh', async () => {
    let nowMs = 1_000_000;
    const store = new MemoryStore({ clock: () => nowMs });
    const one = createRateLimiter({ limits: [limit], store, name: 'one' });
    const several = createRateLimiter({
      limits: [limit, new SlidingWindowRateLimit({ maxCalls: 2, perSeconds: 10 })],
      store,
      name: 'several',
    });
    for (const subject of ['a', 'b', 'c']) {
      await one.consume(subject);
      await several.consume(subject);
    }
    expect(store.size).toBe(9); // 3 subjects: one key space for `one`, two for `several`
    const timer = (store as unknown as { sweepTimer: NodeJS.Timeout | undefined }).sweepTimer;
    expect(timer?.hasRef()).toBe(false);
    nowMs += 5_000;
    store.sweep();
    expect(store.size).toBe(9); // nothing expired yet
    nowMs += 10_000;
    store.sweep();
    expect(store.size).toBe(0);
    const again = await several.consume('a');
    expect(again.results.map((result) => result.remaining)).toEqual([1, 1]);
    expect((await one.consume('a')).results[0].remaining).toBe(1);
    store.close();
  });

  it('treats an expired entry as no state even before the sweep', async () => {
    let nowMs = 0;
    const store = new MemoryStore({ clock: () => nowMs });
    await store.evaluate([check()]);
    await store.evaluate([check()]);
    expect((await store.evaluate([check()]))[0].allowed).toBe(false);
    nowMs = 10_000;
    expect((await store.evaluate([check()]))[0].allowed).toBe(true);
    store.close();
  });
});

describe('CacheManagerStore', () => {
  it('gives every entry a TTL', async () => {
    const keyv = new Keyv();
    const setSpy = jest.spyOn(keyv, 'set');
    const store = new CacheManagerStore(createCache({ stores: [keyv] }), { clock: () => 4_000 });
    await store.evaluate([
      check('a'),
      { key: 'b', limit: new SlidingWindowRateLimit({ maxCalls: 1, perSeconds: 3 }), cost: 1 },
    ]);
    expect(setSpy.mock.calls.map((call) => call[2])).toEqual([6_000, 3_000]);
  });

  it('detects the failures Keyv swallows and rejects with StoreUnavailableError', async () => {
    const keyv = new Keyv({ store: brokenKeyvStore() as never });
    const store = new CacheManagerStore(createCache({ stores: [keyv] }));
    await expect(store.evaluate([check()])).rejects.toThrow(StoreUnavailableError);
  });

  it('times out a cache that never answers', async () => {
    const hanging = {
      get: () => new Promise<undefined>(() => undefined),
      set: async () => undefined,
    };
    const store = new CacheManagerStore(hanging, { operationTimeoutMs: 20 });
    await expect(store.evaluate([check()])).rejects.toThrow('did not answer within 20 ms');
  });
});

describe('ResilientStore (the onStoreError policy)', () => {
  const failing: RateLimitStore = { evaluate: async () => Promise.reject(new Error('boom')) };
  const quietLogger = () => ({ warn: jest.fn<(message: string) => void>() });

  it('insurance: enforces the same limits in process while the store is down', async () => {
    const logger = quietLogger();
    const store = new ResilientStore(failing, { logger });
    const outcomes = [];
    for (let index = 0; index < 3; index++)
      outcomes.push((await store.evaluate([check()]))[0].allowed);
    expect(outcomes).toEqual([true, true, false]);
  });

  it('allow and deny policies', async () => {
    const allow = new ResilientStore(failing, { policy: 'allow', logger: quietLogger() });
    const deny = new ResilientStore(failing, {
      policy: 'deny',
      logger: quietLogger(),
      denyRetryAfterMs: 5_000,
    });
    expect((await allow.evaluate([check()]))[0].allowed).toBe(true);
    expect(await deny.evaluate([check()])).toEqual([
      {
        allowed: false,
        retryAfterMs: 5_000,
        remaining: 0,
        resetAfterMs: 5_000,
        decidedByPolicy: true,
      },
    ]);
  });

  // Found by attack review 10: 'allow' admitted a call above a limit's whole quota, which no
  // window of the store would ever admit: an outage made an always-refused call run.
  it("allow admits no call above a limit's whole quota (2 per 10 s: a cost of 3)", async () => {
    const allow = new ResilientStore(failing, { policy: 'allow', logger: quietLogger() });
    const outcomes = await allow.evaluate([check('k', 2), check('big', 3)]);
    expect(outcomes.map((outcome) => outcome.allowed)).toEqual([true, false]);
  });

  it('rejects an unknown policy', () => {
    expect(() => new ResilientStore(failing, { policy: 'maybe' as never })).toThrow(
      'onStoreError must be one of',
    );
  });

  it('logs the outage once per interval, reports every failure, and uses the store again once it answers', async () => {
    let nowMs = 0;
    let healthy = false;
    const primary = new MemoryStore({ clock: () => nowMs });
    const flaky: RateLimitStore = {
      evaluate: (checks) =>
        healthy ? primary.evaluate(checks) : Promise.reject(new Error('down')),
    };
    const logger = quietLogger();
    const reported: unknown[] = [];
    const store = new ResilientStore(flaky, {
      logger,
      clock: () => nowMs,
      retryIntervalMs: 100,
      logIntervalMs: 60_000,
      reportStoreError: (error) => reported.push(error),
    });
    for (let index = 0; index < 50; index++) {
      nowMs += 200; // past the retry interval each time, so every call tries the store
      await store.evaluate([check(`k${index}`)]);
    }
    expect(reported).toHaveLength(50);
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(store.degraded).toBe(true);

    healthy = true;
    nowMs += 200;
    await store.evaluate([check('fresh')]);
    expect(store.degraded).toBe(false);
    expect(primary.size).toBe(1);
  });

  it('does not retry a dead store on every call: it waits retryIntervalMs', async () => {
    let calls = 0;
    const counting: RateLimitStore = {
      evaluate: () => {
        calls++;
        return Promise.reject(new Error('down'));
      },
    };
    const store = new ResilientStore(counting, {
      logger: quietLogger(),
      clock: () => 0,
      retryIntervalMs: 1_000,
    });
    for (let index = 0; index < 20; index++) await store.evaluate([check()]);
    expect(calls).toBe(1);
  });

  it('counts the retry interval from the failure, so calls after a slow failure do not wait too', async () => {
    let nowMs = 0;
    let calls = 0;
    const slowFailure: RateLimitStore = {
      evaluate: async () => {
        calls++;
        nowMs += 1_500; // the store's timeout elapses during the call
        throw new Error('timed out');
      },
    };
    const store = new ResilientStore(slowFailure, {
      logger: quietLogger(),
      clock: () => nowMs,
      retryIntervalMs: 1_000,
    });
    await store.evaluate([check()]);
    nowMs += 900;
    await store.evaluate([check()]);
    expect(calls).toBe(1);
    nowMs += 200;
    await store.evaluate([check()]);
    expect(calls).toBe(2);
  });

  it('lets one call at a time probe a store that was down; the others are decided meanwhile', async () => {
    let nowMs = 0;
    let healthy = false;
    let calls = 0;
    let slowAnswer = true;
    let answer: () => void = () => undefined;
    const primary = new MemoryStore({ clock: () => nowMs });
    const recovering: RateLimitStore = {
      evaluate: async (checks) => {
        calls++;
        if (!healthy) throw new Error('down');
        if (slowAnswer) await new Promise<void>((resolve) => (answer = resolve));
        return primary.evaluate(checks);
      },
    };
    const store = new ResilientStore(recovering, {
      logger: quietLogger(),
      clock: () => nowMs,
      retryIntervalMs: 1_000,
    });
    await store.evaluate([check()]);
    healthy = true;
    nowMs += 1_000;
    const inFlight = Array.from({ length: 10 }, (_, index) => store.evaluate([check(`k${index}`)]));
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toBe(2);
    slowAnswer = false;
    answer();
    await Promise.all(inFlight);
    expect(store.degraded).toBe(false);
    await store.evaluate([check('after')]);
    expect(calls).toBe(3);
  });

  it('insurance lives across outage episodes: a store that flaps and comes back empty never resets a quota', async () => {
    let nowMs = 1_000_000;
    let up = false;
    let primary = new MemoryStore({ clock: () => nowMs });
    const flapping: RateLimitStore = {
      evaluate: (checks) => (up ? primary.evaluate(checks) : Promise.reject(new Error('down'))),
    };
    const store = new ResilientStore(flapping, {
      logger: quietLogger(),
      clock: () => nowMs,
      retryIntervalMs: 1,
    });
    const admitted: boolean[] = [];
    for (let episode = 0; episode < 4; episode++) {
      up = episode % 2 === 1;
      // Each time the store comes back, it has lost everything (a Redis restarted without persistence).
      if (up) primary = new MemoryStore({ clock: () => nowMs });
      nowMs += 2; // past the retry interval: the store is tried again
      for (let call = 0; call < 3; call++)
        admitted.push((await store.evaluate([check()]))[0].allowed);
    }
    // A limit of 2 in one window: 2 admitted in all, whoever decided.
    expect(admitted.filter(Boolean)).toHaveLength(2);
    store.close();
  });

  it('calls made during a probe are decided by the insurance, which knows every admission', async () => {
    let nowMs = 1_000_000;
    let healthy = true;
    let answer: () => void = () => undefined;
    let slow = false;
    const primary = new MemoryStore({ clock: () => nowMs });
    const store = new ResilientStore(
      {
        evaluate: async (checks) => {
          if (!healthy) throw new Error('down');
          if (slow) await new Promise<void>((resolve) => (answer = resolve));
          return primary.evaluate(checks);
        },
      },
      { logger: quietLogger(), clock: () => nowMs, retryIntervalMs: 10 },
    );
    expect((await store.evaluate([check()]))[0].allowed).toBe(true); // the store's 1st
    healthy = false;
    await store.evaluate([check('other')]); // the store is now known to be down
    healthy = true;
    slow = true;
    nowMs += 10;
    const probe = store.evaluate([check()]);
    const during = await Promise.all([store.evaluate([check()]), store.evaluate([check()])]);
    answer();
    const decisions = [(await probe)[0].allowed, ...during.map((outcomes) => outcomes[0].allowed)];
    // The probe and the two calls during it share one quota of 2, of which 1 was used.
    expect(decisions.filter(Boolean)).toHaveLength(1);
    store.close();
  });

  it('sends a release the store failed to take again once it answers, unless it ran late', async () => {
    // Found by attack review 7: a dropped release leaves its lease held, and its user locked out,
    // until the lease expires. A timed-out release that ran after all is not sent twice: a second
    // run could free another call's lease of the same instant.
    const slots = new ConcurrencyLimit({ maxConcurrent: 1, leaseSeconds: 60 });
    const release = (key: string): LimitCheck => ({ key, limit: slots, cost: 1, admittedAtMs: 0 });
    let healthy = false;
    let nowMs = 0;
    const sent: string[] = [];
    const store = new ResilientStore(
      {
        evaluate: async (checks) => {
          if (!healthy) throw new Error('down');
          return checks.map(() => ({
            allowed: true,
            retryAfterMs: 0,
            remaining: 0,
            resetAfterMs: 0,
          }));
        },
        refund: async (checks) => {
          const key = checks[0].key;
          if (healthy) sent.push(key);
          else if (key === 'ran-late') throw new StoreTimeoutError('slow', Promise.resolve([]));
          else if (key === 'never-ran')
            throw new StoreTimeoutError('slow', Promise.resolve(undefined));
          else throw new Error('down');
        },
      },
      { policy: 'allow', logger: quietLogger(), clock: () => nowMs, retryIntervalMs: 10 },
    );
    await store.evaluate([check()]); // the store is now known to be down
    for (const key of ['refused', 'never-ran', 'ran-late']) await store.refund([release(key)]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual([]);
    healthy = true;
    nowMs += 10;
    await store.evaluate([check()]); // it answers again
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent.sort()).toEqual(['never-ran', 'refused']);
  });

  it('a reset the store marks (made elsewhere) renews the record once, also for concurrent calls', async () => {
    let nowMs = 1_000_000;
    const primary = new MemoryStore({ clock: () => nowMs });
    // The key's reset marker in the store, once another instance resets it.
    const marker: { mark?: { atMs: number; leftMs: number } } = {};
    let markReads = 0;
    const marking: RateLimitStore = {
      evaluate: (checks) => primary.evaluate(checks),
      refund: (checks) => primary.refund(checks),
      resetAt: async (keys) => {
        markReads++;
        return keys.map(() => marker.mark);
      },
    };
    const store = new ResilientStore(marking, { logger: quietLogger(), clock: () => nowMs });
    const admitted = async (): Promise<boolean> => (await store.evaluate([check()]))[0].allowed;
    expect([await admitted(), await admitted(), await admitted()]).toEqual([true, true, false]);
    expect(markReads).toBe(0); // the store denied the third call itself: no discrepancy

    // Another instance resets the key: the store starts afresh and marks it.
    await primary.reset(['k']);
    marker.mark = { atMs: nowMs, leftMs: 10_000 };
    nowMs += 1;
    const concurrent = await Promise.all([store.evaluate([check()]), store.evaluate([check()])]);
    expect(concurrent.map((outcomes) => outcomes[0].allowed)).toEqual([true, true]);
    expect(await admitted()).toBe(false);

    // The store loses the key's state, its mark still there (an eviction): learned already.
    await primary.reset(['k']);
    expect(await admitted()).toBe(false);
    store.close();
  });

  it('a marker read that fails leaves the discrepancy to the lost-state denial', async () => {
    const primary = new MemoryStore();
    const store = new ResilientStore(
      {
        evaluate: (checks) => primary.evaluate(checks),
        refund: (checks) => primary.refund(checks),
        resetAt: () => Promise.reject(new Error('connection lost')),
      },
      { logger: quietLogger() },
    );
    await store.evaluate([check()]);
    await store.evaluate([check()]);
    await primary.reset(['k']);
    expect((await store.evaluate([check()]))[0].allowed).toBe(false);
    expect(store.degraded).toBe(true);
    store.close();
  });

  it('passes a configuration error through instead of treating it as an outage', async () => {
    const misconfigured: RateLimitStore = {
      evaluate: async () => Promise.reject(new RateLimitConfigError('bad keys')),
    };
    const logger = quietLogger();
    const store = new ResilientStore(misconfigured, { logger });
    await expect(store.evaluate([check()])).rejects.toThrow(RateLimitConfigError);
    expect(store.degraded).toBe(false);
    expect(logger.warn).not.toHaveBeenCalled();
  });

  it('createRateLimiter over a broken cache decides with insurance instead of failing open', async () => {
    const keyv = new Keyv({ store: brokenKeyvStore() as never });
    const logger = quietLogger();
    const limiter = createRateLimiter({
      limits: [limit],
      store: new CacheManagerStore(createCache({ stores: [keyv] })),
      logger,
      name: 'test',
    });
    const allowed = [];
    for (let index = 0; index < 4; index++) allowed.push((await limiter.consume('user:a')).allowed);
    expect(allowed).toEqual([true, true, false, false]);
    expect(logger.warn).toHaveBeenCalledTimes(1);
  });
});

describe('exact under concurrency: 10,000 concurrent calls against a limit of 100', () => {
  const limits = [
    new FixedWindowRateLimit({ maxCalls: 100, perSeconds: 3_600 }),
    new SlidingWindowRateLimit({ maxCalls: 100, perSeconds: 3_600 }),
    // Refill so slow that nothing refills during the test.
    new TokenBucketRateLimit({ capacity: 100, refillPerSecond: 0.0001 }),
    new GcraRateLimit({ ratePerSecond: 0.0001, burst: 100 }),
  ];
  const stores: [string, () => RateLimitStore][] = [
    ['MemoryStore', () => new MemoryStore()],
    ['CacheManagerStore (in-memory Keyv)', () => new CacheManagerStore(createCache())],
  ];

  for (const [storeName, makeStore] of stores) {
    it.each(limits.map((each) => [each.describe(), each] as const))(
      `${storeName}: %s admits exactly 100`,
      async (_name, each) => {
        const limiter = createRateLimiter({ limits: [each], store: makeStore(), name: 'each' });
        const decisions = await Promise.all(
          Array.from({ length: 10_000 }, () => limiter.consume('user:a')),
        );
        expect(decisions.filter((decision) => decision.allowed)).toHaveLength(100);
      },
    );

    it(`${storeName}: a two-limit call admits exactly the smaller limit`, async () => {
      const limiter = createRateLimiter({
        limits: [
          new FixedWindowRateLimit({ maxCalls: 100, perSeconds: 3_600 }),
          new SlidingWindowRateLimit({ maxCalls: 150, perSeconds: 3_600 }),
        ],
        store: makeStore(),
        name: 'test',
      });
      const decisions = await Promise.all(
        Array.from({ length: 10_000 }, () => limiter.consume('user:a')),
      );
      expect(decisions.filter((decision) => decision.allowed)).toHaveLength(100);
    });
  }
});

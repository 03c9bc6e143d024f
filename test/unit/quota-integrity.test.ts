// Adversarial tests of the core (issue 17): ways to get more calls admitted than the limits allow,
// or to lose quota on a call that failed. Each group was first written as a failing attack, then
// fixed; the last group are attacks the core resisted from the start.
import { describe, expect, it } from '@jest/globals';
import {
  CacheManagerStore,
  createRateLimiter,
  FixedWindowRateLimit,
  GcraRateLimit,
  LimitSet,
  MemoryStore,
  RateLimitConfigError,
  RateLimitEngine,
  SlidingWindowRateLimit,
  TokenBucketRateLimit,
  type BuiltInRateLimit,
  type CacheLike,
  type McpRateLimiter,
  type RateLimitContext,
  type RateLimitStore,
} from '../../src/index.js';

/** A clock the test moves by hand, at a realistic epoch so float effects are those of production. */
function manualClock(startMs = 1_780_000_000_000): {
  now: () => number;
  advance: (ms: number) => void;
} {
  let nowMs = startMs;
  return { now: () => nowMs, advance: (ms) => (nowMs += ms) };
}

/** Calls admitted among `count` consumes of `subject`. */
async function admitted(
  limiter: { consume(subject: string): Promise<{ allowed: boolean }> },
  subject: string,
  count: number,
): Promise<number> {
  let admittedCount = 0;
  for (let index = 0; index < count; index++) {
    if ((await limiter.consume(subject)).allowed) admittedCount++;
  }
  return admittedCount;
}

/** A custom limiter that counts what it holds. */
class CountingLimiter implements McpRateLimiter {
  used = 0;
  consume(): null {
    this.used++;
    return null;
  }
  refund(): void {
    this.used--;
  }
}

const ctx = (subject: string, extra: Partial<RateLimitContext> = {}): RateLimitContext => ({
  subject,
  cost: 1,
  ...extra,
});

// ---------------------------------------------------------------------------------------------
// A refund gives back only what the refunded call still holds: a late refund (the call's own units
// have already come back by refill / expiry) must not free units of a LATER call, and a decision is
// refunded once.
// ---------------------------------------------------------------------------------------------
describe('a refund never gives back more than the refunded call still holds', () => {
  const lateRefundCases: [string, () => BuiltInRateLimit][] = [
    ['token bucket', () => new TokenBucketRateLimit({ capacity: 1, refillPerSecond: 1 })],
    ['gcra', () => new GcraRateLimit({ ratePerSecond: 1, burst: 1 })],
    ['sliding window', () => new SlidingWindowRateLimit({ maxCalls: 1, perSeconds: 1 })],
  ];
  it.each(lateRefundCases)(
    '%s: refunding call A after its unit came back does not free call B’s unit (limit 1/s)',
    async (_name, make) => {
      const clock = manualClock();
      const limiter = createRateLimiter({
        limits: [make()],
        store: new MemoryStore({ clock: clock.now }),
        name: 'x',
      });
      const callA = await limiter.consume('u');
      expect(callA.allowed).toBe(true); // A at t
      clock.advance(1000);
      expect((await limiter.consume('u')).allowed).toBe(true); // B at t+1000 (A's unit is back)
      clock.advance(1);
      await limiter.refund(callA); // A's work failed late; A holds nothing any more
      // Had A never been made, B would hold the only unit and C must be denied.
      expect((await limiter.consume('u')).allowed).toBe(false); // C at t+1001
    },
  );

  it.each(lateRefundCases)(
    '%s: a refund right after the call gives its unit back',
    async (_name, make) => {
      const clock = manualClock();
      const limiter = createRateLimiter({
        limits: [make()],
        store: new MemoryStore({ clock: clock.now }),
        name: 'x',
      });
      const callA = await limiter.consume('u');
      clock.advance(1);
      await limiter.refund(callA);
      expect((await limiter.consume('u')).allowed).toBe(true);
    },
  );

  it('fixed window: refunding one decision twice gives back once', async () => {
    const clock = manualClock(1_780_000_000_000); // a multiple of 60 s: one window for the test
    const limiter = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 })],
      store: new MemoryStore({ clock: clock.now }),
      name: 'x',
    });
    const callA = await limiter.consume('u');
    expect((await limiter.consume('u')).allowed).toBe(true); // B
    await limiter.refund(callA); // A failed
    await limiter.refund(callA); // ...and an error path refunds it again
    // B still holds one unit: one more call fits, not two.
    expect(await admitted(limiter, 'u', 2)).toBe(1);
  });

  it('a denied decision gives back nothing', async () => {
    const clock = manualClock(1_780_000_000_000);
    const limiter = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 })],
      store: new MemoryStore({ clock: clock.now }),
      name: 'x',
    });
    expect((await limiter.consume('u')).allowed).toBe(true);
    const denied = await limiter.consume('u');
    expect(denied.allowed).toBe(false);
    await limiter.refund(denied);
    expect((await limiter.consume('u')).allowed).toBe(false);
  });

  it('fixed window: a refund after reset does not free the unit of a call made after the reset', async () => {
    const clock = manualClock(1_780_000_000_000);
    const limiter = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 })],
      store: new MemoryStore({ clock: clock.now }),
      name: 'x',
    });
    const callA = await limiter.consume('u');
    expect(callA.allowed).toBe(true);
    await limiter.reset('u'); // support case: start afresh
    expect((await limiter.consume('u')).allowed).toBe(true); // B, the fresh allowance
    await limiter.refund(callA); // A's work fails: A's unit was already wiped by the reset
    expect((await limiter.consume('u')).allowed).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// "Bad input loses nothing": a call that fails after custom limiters admitted it gives their quota
// back (keys and costs are computed before any custom limiter is asked).
// ---------------------------------------------------------------------------------------------
describe('a call that errors after custom limiters admitted it gives their quota back', () => {
  it('a bad cost (negative) is rejected and the custom limiter before it is not charged', async () => {
    const custom = new CountingLimiter();
    const limiter = createRateLimiter({
      limits: [custom, new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 60 })],
    });
    await expect(limiter.consume('u', { cost: -1 })).rejects.toThrow(RateLimitConfigError);
    expect(custom.used).toBe(0);
  });

  it('a key(context) that throws leaves the custom limiter uncharged', async () => {
    const custom = new CountingLimiter();
    const limiter = createRateLimiter({
      limits: [
        custom,
        new FixedWindowRateLimit({
          maxCalls: 5,
          perSeconds: 60,
          key: () => {
            throw new Error('no organisation on this call');
          },
        }),
      ],
    });
    await expect(limiter.consume('u')).rejects.toThrow('no organisation');
    expect(custom.used).toBe(0);
  });

  it('a later custom limiter answering garbage refunds the earlier one', async () => {
    const first = new CountingLimiter();
    const garbage: McpRateLimiter = { consume: () => 'later' as unknown as null };
    const limiter = createRateLimiter({ limits: [first, garbage] });
    await expect(limiter.consume('u')).rejects.toThrow(TypeError);
    expect(first.used).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// A namespaced limit's key must be the same in every handler sharing the namespace, so it cannot
// depend on the limit's position: two limits of the same settings in one namespace in one set are
// refused (they would share one counter).
// ---------------------------------------------------------------------------------------------
describe('a namespaced limit is keyed the same in every handler', () => {
  const perOrg = (namespace: string) =>
    new FixedWindowRateLimit({
      maxCalls: 2,
      perSeconds: 60,
      namespace,
      key: (context) => `org:${String(context.args)}`,
    });
  const perUser = new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60, namespace: 'api' });

  it('two limits of the same settings in one namespace of one set are refused, naming both', () => {
    expect(
      () => new LimitSet([perOrg('api'), perUser], 'tools/call:search', 'Tools.search'),
    ).toThrow(
      /Tools\.search: FixedWindowRateLimit\(2 per 60s\) and FixedWindowRateLimit\(2 per 60s\) \(limit #2\).*namespace "api".*another namespace/,
    );
  });

  it('without a namespace, same-settings limits of one set keep counters of their own', async () => {
    const engine = new RateLimitEngine(new MemoryStore({ clock: manualClock().now }));
    const one = new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 });
    const set = new LimitSet([one, one], 'h');
    expect((await engine.evaluate(set, ctx('u'))).allowed).toBe(true);
    expect((await engine.evaluate(set, ctx('u'))).allowed).toBe(false);
  });

  it('the per-user quota of namespace "api" is shared exactly by two handlers', async () => {
    const clock = manualClock(1_780_000_000_000);
    const engine = new RateLimitEngine(new MemoryStore({ clock: clock.now }));
    const search = new LimitSet([perOrg('api-org'), perUser], 'tools/call:search');
    const fetchTool = new LimitSet([perUser], 'tools/call:fetch');
    const call = ctx('user:1', { args: 'acme' });
    let admittedCount = 0;
    for (let index = 0; index < 2; index++) {
      if ((await engine.evaluate(search, call)).allowed) admittedCount++;
    }
    for (let index = 0; index < 2; index++) {
      if ((await engine.evaluate(fetchTool, call)).allowed) admittedCount++;
    }
    // user:1 has 2 calls per minute across the "api" namespace.
    expect(admittedCount).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------
// createRateLimiter wraps every store but the MemoryStore in a ResilientStore, which must forward
// peek, refund and reset (done on the Redis helper's branch: these pass once it is merged).
// ---------------------------------------------------------------------------------------------
describe('createRateLimiter on a CacheManagerStore keeps peek, refund and reset', () => {
  function mapCache(): CacheLike {
    const map = new Map<string, unknown>();
    return {
      get: <T>(key: string) => Promise.resolve(map.get(key) as T | undefined),
      set: (key: string, value: unknown) => Promise.resolve(map.set(key, value)),
      del: (key: string) => Promise.resolve(map.delete(key)),
    };
  }
  const limits = () => [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 3600 })];

  it('refund', async () => {
    const limiter = createRateLimiter({
      limits: limits(),
      store: new CacheManagerStore(mapCache()),
      name: 'x',
    });
    const decision = await limiter.consume('u');
    await expect(limiter.refund(decision)).resolves.toBeUndefined();
    expect((await limiter.consume('u')).allowed).toBe(true);
  });
  it('peek', async () => {
    const limiter = createRateLimiter({
      limits: limits(),
      store: new CacheManagerStore(mapCache()),
      name: 'x',
    });
    await expect(limiter.peek('u')).resolves.toMatchObject({ allowed: true });
  });
  it('reset', async () => {
    const limiter = createRateLimiter({
      limits: limits(),
      store: new CacheManagerStore(mapCache()),
      name: 'x',
    });
    await expect(limiter.reset('u')).resolves.toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Garbage from a custom store (too few outcomes, a non-boolean `allowed`) is an error, never an
// admission.
// ---------------------------------------------------------------------------------------------
describe('garbage from a custom store never becomes an admission', () => {
  it.each([
    ['[] for one check', []],
    ['allowed: "yes"', [{ allowed: 'yes', retryAfterMs: 0, remaining: 1, resetAfterMs: 0 }]],
  ])('a store answering %s: the call fails', async (_name, answer) => {
    const broken = {
      evaluate: () => Promise.resolve(answer),
    } as unknown as RateLimitStore;
    const limiter = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 })],
      store: broken,
      onStoreError: 'deny',
      name: 'x',
    });
    await expect(
      limiter.consume('u').then(
        (decision) => decision.allowed,
        () => 'rejected',
      ),
    ).resolves.not.toBe(true);
  });

  it.each([
    ['[] for one check', []],
    ['allowed: 1', [{ allowed: 1, retryAfterMs: 0, remaining: 1, resetAfterMs: 0 }]],
  ])('the engine on a store answering %s fails the call', async (_name, answer) => {
    const broken = { evaluate: () => Promise.resolve(answer) } as unknown as RateLimitStore;
    const engine = new RateLimitEngine(broken);
    const set = new LimitSet([new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 })], 'h');
    await expect(engine.evaluate(set, ctx('u'))).rejects.toThrow(/rate-limit store answered/);
  });
});

// ---------------------------------------------------------------------------------------------
// The sliding window stores one number per UNIT: its maxCalls is bounded (10 000), so a budget
// such as "1,000,000 tokens a day" goes to GCRA or the token bucket instead of megabytes of state.
// ---------------------------------------------------------------------------------------------
describe('sliding-window quotas are bounded, since its state grows with units', () => {
  it('a quota too large to hold is refused at construction', async () => {
    const make = () => new SlidingWindowRateLimit({ maxCalls: 2 ** 32, perSeconds: 60 });
    let limit: SlidingWindowRateLimit;
    try {
      limit = make();
    } catch (error) {
      // Refusing the configuration at construction is a correct answer.
      expect(error).toBeInstanceOf(RateLimitConfigError);
      return;
    }
    const limiter = createRateLimiter({ limits: [limit] });
    await expect(limiter.consume('u', { cost: 2 ** 32 })).resolves.toMatchObject({ allowed: true });
  });

  it('maxCalls 10 001 is refused naming GCRA and the token bucket; 10 000 is accepted', () => {
    expect(() => new SlidingWindowRateLimit({ maxCalls: 10_001, perSeconds: 86_400 })).toThrow(
      /at most 10000 .*GcraRateLimit or TokenBucketRateLimit/,
    );
    const limit = new SlidingWindowRateLimit({ maxCalls: 10_000, perSeconds: 86_400 });
    expect(limit.evaluateState(undefined, 1_780_000_000_000, 10_000).allowed).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// createRateLimiter's default name would make two limiters without a name on one store share the
// counters of every limit of the same settings: a limiter on an explicit store needs a name.
// ---------------------------------------------------------------------------------------------
describe('two limiters on one store never share counters by accident', () => {
  it('a limiter with an explicit store and no name is refused', () => {
    expect(() =>
      createRateLimiter({
        limits: [new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 3600 })],
        store: new MemoryStore(),
      }),
    ).toThrow(/explicit "store" needs a "name"/);
  });

  it('login attempts and password resets count apart; reset stays with its limiter', async () => {
    const store = new MemoryStore({ clock: manualClock().now });
    const login = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 3600 })],
      store,
      name: 'login',
    });
    const passwordReset = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 3600 })],
      store,
      name: 'password-reset',
    });
    expect(await admitted(login, 'user:1', 3)).toBe(3);
    await passwordReset.reset('user:1'); // an admin resets the password-reset quota only
    expect(await admitted(login, 'user:1', 3)).toBe(0); // the login quota stays spent
  });
});

// ---------------------------------------------------------------------------------------------
// Limits beyond 2^53 are refused: above it a count no longer grows (x + 1 === x), so an exhausted
// limit would admit forever.
// ---------------------------------------------------------------------------------------------
describe('quotas beyond the safe integers are refused', () => {
  it('maxCalls 2^53: once exhausted, calls are still admitted (or the quota is refused)', async () => {
    let limit: FixedWindowRateLimit;
    try {
      limit = new FixedWindowRateLimit({ maxCalls: 2 ** 53, perSeconds: 60 });
    } catch (error) {
      expect(error).toBeInstanceOf(RateLimitConfigError);
      return;
    }
    const limiter = createRateLimiter({
      limits: [limit],
      store: new MemoryStore({ clock: manualClock().now }),
      name: 'x',
    });
    expect((await limiter.consume('u', { cost: 2 ** 53 })).allowed).toBe(true);
    expect((await limiter.consume('u')).allowed).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// A stored state of the wrong shape is a store failure, not "no state" (a fresh allowance): a
// CacheLike adapter that does not round-trip objects (e.g. over a raw Redis client, which stores
// "[object Object]") must not silently disable every limit.
// ---------------------------------------------------------------------------------------------
describe('an unreadable stored state is a store failure, never a fresh allowance', () => {
  it('a cache that stores strings: the limit of 1 admits every call', async () => {
    const map = new Map<string, string>();
    const stringly: CacheLike = {
      get: <T>(key: string) => Promise.resolve(map.get(key) as T | undefined),
      set: (key: string, value: unknown) => Promise.resolve(map.set(key, String(value))),
    };
    const limiter = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 3600 })],
      store: new CacheManagerStore(stringly),
      onStoreError: 'deny',
      name: 'x',
    });
    let admittedCount = 0;
    for (let index = 0; index < 5; index++) {
      if ((await limiter.consume('u')).allowed) admittedCount++;
    }
    expect(admittedCount).toBeLessThanOrEqual(1);
  });
});

// ---------------------------------------------------------------------------------------------
// GCRA keeps an epoch timestamp (~1.8e12 ms, precision 2.4e-4 ms): a call whose increment
// cost × emissionInterval is below 1 µs would be rounded away and cost nothing, so it is refused.
// ---------------------------------------------------------------------------------------------
describe('GCRA refuses costs too small to count', () => {
  it('cost 0.0001 at 1000/s (a 0.1 µs increment) is refused and takes nothing', async () => {
    const clock = manualClock(1_780_000_000_000);
    const limiter = createRateLimiter({
      limits: [new GcraRateLimit({ ratePerSecond: 1000, burst: 1 })],
      store: new MemoryStore({ clock: clock.now }),
      name: 'x',
    });
    await expect(limiter.consume('u', { cost: 0.0001 })).rejects.toThrow(
      /"cost" 0.0001 is too small to count at 1000\/s/,
    );
    expect(() => new GcraRateLimit({ ratePerSecond: 1000, burst: 1, cost: 0.0001 })).toThrow(
      RateLimitConfigError,
    );
    expect(() => new GcraRateLimit({ ratePerSecond: 2e6, burst: 1 })).toThrow(/at most 1000000/);
    // 0.001 (a 1 µs increment) counts: 1000 such calls fill the burst of 1. An epoch time in ms
    // holds 1 µs to within half an ulp (0.12 µs), and the 1 µs slack of EPSILON_MS admits one more:
    // at this smallest increment the burst is counted to within 2.5%, then nothing more passes.
    const admittedCount = await admitted(withCost(limiter, 0.001), 'u', 1100);
    expect(admittedCount).toBeGreaterThanOrEqual(1000);
    expect(admittedCount).toBeLessThanOrEqual(1026);
  });
});

/** `limiter`, every call at `cost`. */
function withCost(limiter: ReturnType<typeof createRateLimiter>, cost: number) {
  return { consume: (subject: string) => limiter.consume(subject, { cost }) };
}

// ---------------------------------------------------------------------------------------------
// Careless use: limiters made per request on one MemoryStore. Every new limit object of known
// settings is remembered in its key space's `alike` set: weakly, so that memory and per-call time
// do not grow with the number of requests served.
// ---------------------------------------------------------------------------------------------
describe('key-space memory comes back', () => {
  it('per-request limiters are remembered weakly by the store', async () => {
    const store = new MemoryStore({ clock: manualClock().now });
    for (let index = 0; index < 10_000; index++) {
      const limiter = createRateLimiter({
        limits: [new FixedWindowRateLimit({ maxCalls: 1_000_000, perSeconds: 60 })],
        store,
        name: 'search',
      });
      await limiter.consume(`user:${index % 10}`);
    }
    // White-box: the store's only key space and the limit objects it remembers (a WeakSet, whose
    // size cannot be read: what it holds goes with the limits).
    const spaces = (store as unknown as { spaces: Map<string, { alike: unknown }> }).spaces;
    const [space] = [...spaces.values()];
    expect(spaces.size).toBe(1);
    expect(space.alike).toBeInstanceOf(WeakSet);
  });
});

// ---------------------------------------------------------------------------------------------
// A finite perSeconds whose milliseconds overflow (perSeconds * 1000 = Infinity) would make the
// fixed window's start NaN, so that no stored window ever matches: it is refused.
// ---------------------------------------------------------------------------------------------
describe('a window too long for milliseconds is refused', () => {
  it('FixedWindowRateLimit({ maxCalls: 1, perSeconds: Number.MAX_VALUE }) is refused', async () => {
    let limit: FixedWindowRateLimit;
    try {
      limit = new FixedWindowRateLimit({ maxCalls: 1, perSeconds: Number.MAX_VALUE });
    } catch (error) {
      expect(error).toBeInstanceOf(RateLimitConfigError);
      return;
    }
    const limiter = createRateLimiter({
      limits: [limit],
      store: new MemoryStore({ clock: manualClock().now }),
      name: 'x',
    });
    expect(await admitted(limiter, 'u', 5)).toBe(1);
  });

  it('a refill or rate so slow that its milliseconds overflow is refused', () => {
    expect(() => new TokenBucketRateLimit({ capacity: 1, refillPerSecond: 1e-307 })).toThrow(
      /refilling "capacity" must come to a finite positive number of milliseconds/,
    );
    expect(() => new GcraRateLimit({ ratePerSecond: 1e-307, burst: 1 })).toThrow(
      RateLimitConfigError,
    );
  });
});

/** A cache-manager-like cache whose operations complete on a later turn, as a network cache's do. */
function slowMapCache(): CacheLike {
  const map = new Map<string, unknown>();
  const later = <T>(value: T) => new Promise<T>((resolve) => setImmediate(() => resolve(value)));
  return {
    get: <T>(key: string) => later(map.get(key) as T | undefined),
    set: (key: string, value: unknown) => later(map.set(key, value)),
    del: (key: string) => later(map.delete(key)),
  };
}

// ---------------------------------------------------------------------------------------------
// CacheManagerStore serializes a key's read-modify-write per CACHE object, so that two stores over
// the one cache of the app (two modules each making their own) do not race inside one process.
// ---------------------------------------------------------------------------------------------
describe('two CacheManagerStores over one cache do not race in one process', () => {
  it('10 concurrent calls against a limit of 5 through two stores on the same cache', async () => {
    const cache = slowMapCache();
    const make = () =>
      createRateLimiter({
        limits: [new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 3600 })],
        store: new CacheManagerStore(cache),
        name: 'search',
      });
    const [first, second] = [make(), make()];
    const decisions = await Promise.all(
      Array.from({ length: 10 }, (_, index) => (index % 2 === 0 ? first : second).consume('u')),
    );
    expect(decisions.filter((decision) => decision.allowed).length).toBe(5);
  });
});

// =============================================================================================
// HELD: attacks the core resists.
// =============================================================================================
describe('attacks the core resisted from the start', () => {
  it('peek never commits, however often it is called', async () => {
    const clock = manualClock(1_780_000_000_000);
    const limiter = createRateLimiter({
      limits: [
        new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }),
        new SlidingWindowRateLimit({ maxCalls: 2, perSeconds: 60 }),
        new TokenBucketRateLimit({ capacity: 2, refillPerSecond: 0.01 }),
        new GcraRateLimit({ ratePerSecond: 0.01, burst: 2 }),
      ],
      store: new MemoryStore({ clock: clock.now }),
      name: 'x',
    });
    for (let index = 0; index < 50; index++) await limiter.peek('u', { cost: 2 });
    expect(await admitted(limiter, 'u', 5)).toBe(2);
  });

  it('a call denied by one limit consumes nothing from the others', async () => {
    const clock = manualClock(1_780_000_000_000);
    const roomy = new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 60 });
    const tight = new TokenBucketRateLimit({ capacity: 1, refillPerSecond: 0.001 });
    const store = new MemoryStore({ clock: clock.now });
    const both = createRateLimiter({ limits: [roomy, tight], store, name: 'both' });
    const roomyOnly = createRateLimiter({ limits: [roomy], store, name: 'both' });
    expect(await admitted(both, 'u', 10)).toBe(1);
    // The 9 denied calls took nothing from `roomy`: 2 units left there.
    expect(await admitted(roomyOnly, 'u', 10)).toBe(2);
  });

  it.each([NaN, Infinity, -1, 0.5, '1' as unknown as number])(
    'cost %p is refused with a RateLimitConfigError and consumes nothing',
    async (cost) => {
      const limiter = createRateLimiter({
        limits: [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 })],
        store: new MemoryStore({ clock: manualClock().now }),
        name: 'x',
      });
      await expect(limiter.consume('u', { cost })).rejects.toThrow(RateLimitConfigError);
      expect((await limiter.consume('u')).allowed).toBe(true);
    },
  );

  it('custom limiters answering garbage never let the call through', async () => {
    for (const verdict of [undefined, 'x', -1, NaN, {}, { retryAfter: 'soon' }, [null]]) {
      const limiter = createRateLimiter({
        limits: [{ consume: () => verdict as unknown as null }],
      });
      const outcome = await limiter.consume('u').then(
        (decision) => decision.allowed,
        () => 'rejected',
      );
      expect(outcome).toBe('rejected');
    }
  });

  it('a subject with no key-space twin: odd subjects never share or reset another’s state', async () => {
    const long = 'x'.repeat(300);
    const subjects = [
      '',
      '{',
      '}',
      '{5:alice}',
      'a}h',
      '\uD800',
      '\uD800\uDC00',
      '\uD800#' + 'A'.repeat(43),
      long,
      long + 'y',
      '0:',
      'alice',
      '5:alice',
    ];
    for (const prefix of ['mcprl:', '', 'a{b}', '{', '{5:alice}']) {
      const limiter = createRateLimiter({
        limits: [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 3600 })],
        store: new MemoryStore({ clock: manualClock().now }),
        prefix,
        name: 'x',
      });
      for (const subject of subjects) expect((await limiter.consume(subject)).allowed).toBe(true);
      for (const subject of subjects) expect((await limiter.consume(subject)).allowed).toBe(false);
      for (const target of subjects) {
        await limiter.reset(target);
        for (const subject of subjects) {
          const allowed = (await limiter.peek(subject)).allowed;
          expect([prefix, target, subject, allowed]).toEqual([
            prefix,
            target,
            subject,
            subject === target,
          ]);
        }
        expect((await limiter.consume(target)).allowed).toBe(true);
      }
    }
  });

  it('generations: a 1-day state survives any number of sweeps beside 1-second states', async () => {
    const clock = manualClock(1_780_000_000_000);
    const store = new MemoryStore({ clock: clock.now, sweepIntervalMs: 1e9 });
    const daily = new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 86_400 });
    const perSecond = new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 1 });
    const tb = new TokenBucketRateLimit({ capacity: 1, refillPerSecond: 1 / 86_400 });
    const both = createRateLimiter({ limits: [perSecond, daily, tb], store, name: 'x' });
    const shortOnly = createRateLimiter({ limits: [perSecond], store, name: 'x' });
    clock.advance(86_400_000 - (clock.now() % 86_400_000)); // start of a day window
    expect((await both.consume('u')).allowed).toBe(true);
    for (let second = 0; second < 3600; second++) {
      clock.advance(1000);
      // Short-lived states written after the long one keep the young generation busy.
      await shortOnly.consume(`other:${second}`);
      await shortOnly.consume('u');
      store.sweep();
    }
    clock.advance(1000); // a fresh 1-second window: only the day-long limits can deny
    const last = await both.consume('u');
    expect(last.allowed).toBe(false);
    expect([daily, tb]).toContain(last.deniedBy);
  });

  it('one CacheManagerStore serializes concurrent calls: exactly the limit is admitted', async () => {
    const limiter = createRateLimiter({
      limits: [
        new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 3600 }),
        new SlidingWindowRateLimit({ maxCalls: 7, perSeconds: 3600 }),
      ],
      store: new CacheManagerStore(slowMapCache()),
      name: 'x',
    });
    const decisions = await Promise.all(Array.from({ length: 20 }, () => limiter.consume('u')));
    expect(decisions.filter((decision) => decision.allowed).length).toBe(5);
  });

  it('generations: in ONE key space, a long-TTL state written after short ones survives sweeps', async () => {
    const clock = manualClock(1_780_000_000_000);
    const store = new MemoryStore({ clock: clock.now, sweepIntervalMs: 1e9 });
    const limiter = createRateLimiter({
      limits: [new TokenBucketRateLimit({ capacity: 100, refillPerSecond: 1 })],
      store,
      name: 'x',
    });
    await limiter.consume('short'); // empty again in 1 s
    await limiter.consume('long', { cost: 100 }); // same generation, full again in 100 s
    store.sweep(); // that generation becomes the old one
    for (let second = 0; second < 99; second++) {
      clock.advance(1000);
      await limiter.consume(`other:${second}`);
      store.sweep();
    }
    // 99 s later the bucket holds 99 tokens, not a fresh 100.
    expect((await limiter.consume('long', { cost: 100 })).allowed).toBe(false);
    expect((await limiter.consume('long', { cost: 99 })).allowed).toBe(true);
  });

  it('a shared namespace with different settings is refused or kept apart, never mixed', async () => {
    const store = new MemoryStore({ clock: manualClock(1_780_000_000_000).now });
    const strict = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60, namespace: 'ns' })],
      store,
      name: 'a',
    });
    const lax = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 100, perSeconds: 60, namespace: 'ns' })],
      store,
      name: 'b',
    });
    expect(await admitted(lax, 'u', 5)).toBe(5);
    expect(await admitted(strict, 'u', 3)).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// The token bucket had no such guard: a cost below the precision of its tokens (1e-300 off 3
// tokens leaves 3) was admitted and took nothing, without end, and one within the 1 µs slack took
// nothing from an empty bucket. A cost below 1 µs of refill is now refused, as GCRA's.
// ---------------------------------------------------------------------------------------------
describe('token bucket refuses costs too small to count', () => {
  it('cost 1e-300 (lost in the tokens) is refused and takes nothing; 1 µs of refill counts', async () => {
    const clock = manualClock(1_780_000_000_000);
    const limiter = createRateLimiter({
      limits: [new TokenBucketRateLimit({ capacity: 3, refillPerSecond: 1000 })],
      store: new MemoryStore({ clock: clock.now }),
      name: 'x',
    });
    await expect(limiter.consume('u', { cost: 1e-300 })).rejects.toThrow(
      /"cost" 1e-300 is too small to count at 1000\/s/,
    );
    expect(
      () => new TokenBucketRateLimit({ capacity: 3, refillPerSecond: 1000, cost: 1e-300 }),
    ).toThrow(RateLimitConfigError);
    // 0.001 (1 µs of refill) counts: 3000 such calls empty the bucket, then one early at most.
    const admittedCount = await admitted(withCost(limiter, 0.001), 'u', 3100);
    expect(admittedCount).toBeGreaterThanOrEqual(2999);
    expect(admittedCount).toBeLessThanOrEqual(3001);
  });
});

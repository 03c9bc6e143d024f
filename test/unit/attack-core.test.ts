// Adversarial tests of the core (issue 17). The "DEFECT" tests fail on the code they were written
// against: each shows a way to get more calls admitted than the limits allow, or to lose quota on a
// call that failed. The "HELD" tests show attacks the core resists; they pass.
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
// DEFECT 1: a refund is not tied to the call it refunds. A late refund (the call's own units have
// already come back by refill / expiry) gives back units of a LATER call: more than the limit.
// The store contract says "a refund never makes a limit roomier than if the call had never been
// made"; these break it.
// ---------------------------------------------------------------------------------------------
describe('DEFECT refund gives back units the refunded call no longer holds', () => {
  const lateRefundCases: [string, () => BuiltInRateLimit][] = [
    ['token bucket', () => new TokenBucketRateLimit({ capacity: 1, refillPerSecond: 1 })],
    ['gcra', () => new GcraRateLimit({ ratePerSecond: 1, burst: 1 })],
    ['sliding window', () => new SlidingWindowRateLimit({ maxCalls: 1, perSeconds: 1 })],
  ];
  it.each(lateRefundCases)(
    '%s: refunding call A after its unit came back frees call B’s unit (2 calls admitted within 1 ms, limit 1/s)',
    async (_name, make) => {
      const clock = manualClock();
      const limiter = createRateLimiter({
        limits: [make()],
        store: new MemoryStore({ clock: clock.now }),
      });
      expect((await limiter.consume('u')).allowed).toBe(true); // A at t
      clock.advance(1000);
      expect((await limiter.consume('u')).allowed).toBe(true); // B at t+1000 (A's unit is back)
      clock.advance(1);
      await limiter.refund('u'); // A's work failed late; A holds nothing any more
      // Had A never been made, B would hold the only unit and C must be denied.
      expect((await limiter.consume('u')).allowed).toBe(false); // C at t+1001
    },
  );

  it('fixed window: refund twice for one failed call frees a unit of another call', async () => {
    const clock = manualClock(1_780_000_000_000); // a multiple of 60 s: one window for the test
    const limiter = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 })],
      store: new MemoryStore({ clock: clock.now }),
    });
    expect(await admitted(limiter, 'u', 2)).toBe(2); // A and B
    await limiter.refund('u'); // A failed
    await limiter.refund('u'); // ...and an error path refunds it again
    // B still holds one unit: one more call fits, not two.
    expect(await admitted(limiter, 'u', 2)).toBe(1);
  });

  it('fixed window: a refund after reset frees the unit of a call made after the reset', async () => {
    const clock = manualClock(1_780_000_000_000);
    const limiter = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 })],
      store: new MemoryStore({ clock: clock.now }),
    });
    expect((await limiter.consume('u')).allowed).toBe(true); // A
    await limiter.reset('u'); // support case: start afresh
    expect((await limiter.consume('u')).allowed).toBe(true); // B, the fresh allowance
    await limiter.refund('u'); // A's work fails: A's unit was already wiped by the reset
    expect((await limiter.consume('u')).allowed).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// DEFECT 2: "bad input loses nothing" — a call that throws after the custom limiters admitted it
// keeps their quota taken. Custom limiters run before the built-in costs and keys are computed,
// and nothing refunds them when a later step throws.
// ---------------------------------------------------------------------------------------------
describe('DEFECT a call that errors after custom limiters admitted it keeps their quota', () => {
  it('a bad cost (negative) is rejected, but the custom limiter before it stays charged', async () => {
    const custom = new CountingLimiter();
    const limiter = createRateLimiter({
      limits: [custom, new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 60 })],
    });
    await expect(limiter.consume('u', { cost: -1 })).rejects.toThrow(RateLimitConfigError);
    expect(custom.used).toBe(0);
  });

  it('a key(context) that throws leaves the custom limiter charged', async () => {
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

  it('a later custom limiter answering garbage leaves the earlier one charged', async () => {
    const first = new CountingLimiter();
    const garbage: McpRateLimiter = { consume: () => 'later' as unknown as null };
    const limiter = createRateLimiter({ limits: [first, garbage] });
    await expect(limiter.consume('u')).rejects.toThrow(TypeError);
    expect(first.used).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// DEFECT 3: the key of a built-in limit depends on how many limits of the same settings come
// before it in its set (`#1`, `#2`...). Two handlers sharing a namespace (or two limitByContext
// combinations of one handler) then key the SAME per-user limit differently: the shared quota is
// not shared, and a per-user counter lands on another limit's (per-organisation) counter.
// ---------------------------------------------------------------------------------------------
describe('DEFECT a namespaced limit is keyed by its position among same-settings limits', () => {
  it('the per-user quota of namespace "api" is granted twice over by two handlers', async () => {
    const clock = manualClock(1_780_000_000_000);
    const engine = new RateLimitEngine(new MemoryStore({ clock: clock.now }));
    const perOrg = new FixedWindowRateLimit({
      maxCalls: 2,
      perSeconds: 60,
      namespace: 'api',
      key: (context) => `org:${String(context.args)}`,
    });
    const perUser = new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60, namespace: 'api' });
    const search = new LimitSet([perOrg, perUser], 'tools/call:search');
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

  it('a per-user counter lands on a per-organisation counter of another handler', async () => {
    const clock = manualClock(1_780_000_000_000);
    const engine = new RateLimitEngine(new MemoryStore({ clock: clock.now }));
    const perOrg = new FixedWindowRateLimit({
      maxCalls: 1,
      perSeconds: 60,
      namespace: 'api',
      key: (context) => String(context.args), // the organisation id
    });
    const perUser = new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60, namespace: 'api' });
    // Handler A: organisation, then user. User 7 of organisation 42 calls it once.
    expect(
      (await engine.evaluate(new LimitSet([perOrg, perUser], 'a'), ctx('7', { args: '42' })))
        .allowed,
    ).toBe(true);
    // Handler B: user only. User 42 (another person) has made no call at all.
    const decision = await engine.evaluate(new LimitSet([perUser], 'b'), ctx('42', { args: '1' }));
    expect(decision.allowed).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// DEFECT 4: createRateLimiter wraps every store but the MemoryStore in a ResilientStore, which has
// evaluate() only: peek, refund and reset then refuse, whatever the store can do.
// ---------------------------------------------------------------------------------------------
describe('DEFECT createRateLimiter on a CacheManagerStore loses peek, refund and reset', () => {
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
    });
    await limiter.consume('u');
    await expect(limiter.refund('u')).resolves.toBeUndefined();
  });
  it('peek', async () => {
    const limiter = createRateLimiter({
      limits: limits(),
      store: new CacheManagerStore(mapCache()),
    });
    await expect(limiter.peek('u')).resolves.toMatchObject({ allowed: true });
  });
  it('reset', async () => {
    const limiter = createRateLimiter({
      limits: limits(),
      store: new CacheManagerStore(mapCache()),
    });
    await expect(limiter.reset('u')).resolves.toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// DEFECT 5: a custom store that answers fewer outcomes than checks admits the call: the engine
// reads "no denial among what came back" as "allowed" (fail open on garbage).
// ---------------------------------------------------------------------------------------------
describe('DEFECT garbage from a custom store becomes an admission', () => {
  it('a store answering [] for one check admits every call', async () => {
    const broken: RateLimitStore = { evaluate: () => Promise.resolve([]) };
    const limiter = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 })],
      store: broken,
      onStoreError: 'deny',
    });
    await expect(
      limiter.consume('u').then(
        (decision) => decision.allowed,
        () => 'rejected',
      ),
    ).resolves.not.toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// DEFECT 6: the sliding window stores one number per UNIT, and maxCalls has no upper bound: a
// budget such as "1,000,000 tokens a day" with cost = tokens makes each subject's state megabytes,
// copied on every call; a large enough quota makes a call throw a RangeError instead of deciding.
// ---------------------------------------------------------------------------------------------
describe('DEFECT sliding-window state grows with units, not calls', () => {
  it('a quota too large to hold is accepted, then the call throws a RangeError', async () => {
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

  it('one call of cost 100 000 stores 100 000 entries for one subject', () => {
    const limit = new SlidingWindowRateLimit({ maxCalls: 1_000_000, perSeconds: 86_400 });
    const step = limit.evaluateState(undefined, 1_780_000_000_000, 100_000);
    expect(step.allowed).toBe(true);
    expect((step.state as readonly number[]).length).toBeLessThanOrEqual(1);
  });
});

// ---------------------------------------------------------------------------------------------
// DEFECT 7: createRateLimiter's default name: two limiters without a name on one store share the
// counters of every limit of the same settings, and reset of one wipes the other.
// ---------------------------------------------------------------------------------------------
describe('DEFECT two unnamed limiters on one store share counters', () => {
  it('login attempts and password resets count against each other; reset crosses over', async () => {
    const store = new MemoryStore({ clock: manualClock().now });
    const login = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 3600 })],
      store,
    });
    const passwordReset = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 3600 })],
      store,
    });
    expect(await admitted(login, 'user:1', 3)).toBe(3);
    await passwordReset.reset('user:1'); // an admin resets the password-reset quota only
    expect(await admitted(login, 'user:1', 3)).toBe(0); // the login quota stays spent
  });
});

// ---------------------------------------------------------------------------------------------
// DEFECT 8: limits beyond 2^53 are accepted; above it a count no longer grows (x + 1 === x), so an
// exhausted limit admits forever.
// ---------------------------------------------------------------------------------------------
describe('DEFECT quotas beyond the safe integers', () => {
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
    });
    expect((await limiter.consume('u', { cost: 2 ** 53 })).allowed).toBe(true);
    expect((await limiter.consume('u')).allowed).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// DEFECT 9: a stored state of the wrong shape reads as "no state": a fresh allowance. A CacheLike
// adapter that does not round-trip objects (e.g. over a raw Redis client, which stores
// "[object Object]") silently disables every limit instead of failing.
// ---------------------------------------------------------------------------------------------
describe('DEFECT an unreadable stored state is a fresh allowance', () => {
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
    });
    let admittedCount = 0;
    for (let index = 0; index < 5; index++) {
      if ((await limiter.consume('u')).allowed) admittedCount++;
    }
    expect(admittedCount).toBeLessThanOrEqual(1);
  });
});

// ---------------------------------------------------------------------------------------------
// DEFECT 10: GCRA keeps an epoch timestamp (~1.8e12 ms, precision 2.4e-4 ms): a call whose
// increment cost × emissionInterval is below half of that is rounded away and costs nothing.
// ---------------------------------------------------------------------------------------------
describe('DEFECT GCRA rounds small fractional costs to nothing', () => {
  it('20 000 calls of cost 0.0001 (2 units in all) against a burst of 1', async () => {
    const clock = manualClock(1_780_000_000_000);
    const limiter = createRateLimiter({
      limits: [new GcraRateLimit({ ratePerSecond: 1000, burst: 1 })],
      store: new MemoryStore({ clock: clock.now }),
    });
    let admittedCount = 0;
    for (let index = 0; index < 20_000; index++) {
      if ((await limiter.consume('u', { cost: 0.0001 })).allowed) admittedCount++;
    }
    // At most 1 unit (10 000 such calls) fits in the burst at one instant.
    expect(admittedCount).toBeLessThanOrEqual(10_001);
  });
});

// ---------------------------------------------------------------------------------------------
// DEFECT 11 (careless use): limiters made per request on one MemoryStore. Every new limit object
// of known settings is remembered in its key space's `alike` list, never forgotten, and searched
// linearly on every call: memory and per-call time grow with the number of requests served.
// ---------------------------------------------------------------------------------------------
describe('DEFECT key-space memory that never comes back', () => {
  it('10 000 per-request limiters leave 10 000 limit objects in the store', async () => {
    const store = new MemoryStore({ clock: manualClock().now });
    for (let index = 0; index < 10_000; index++) {
      const limiter = createRateLimiter({
        limits: [new FixedWindowRateLimit({ maxCalls: 1_000_000, perSeconds: 60 })],
        store,
        name: 'search',
      });
      await limiter.consume(`user:${index % 10}`);
    }
    // White-box: the store's only key space and the limit objects it remembers.
    const spaces = (store as unknown as { spaces: Map<string, { alike: unknown[] }> }).spaces;
    const [space] = [...spaces.values()];
    expect(space.alike.length).toBeLessThan(100);
  });
});

// ---------------------------------------------------------------------------------------------
// DEFECT 12: a finite perSeconds whose milliseconds overflow (perSeconds * 1000 = Infinity) is
// accepted; the fixed window's start is then NaN, no stored window ever matches, and every call
// is admitted.
// ---------------------------------------------------------------------------------------------
describe('DEFECT a window too long for milliseconds disables the limit', () => {
  it('FixedWindowRateLimit({ maxCalls: 1, perSeconds: Number.MAX_VALUE }) admits every call', async () => {
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
    });
    expect(await admitted(limiter, 'u', 5)).toBe(1);
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
// DEFECT 13: CacheManagerStore serializes a key's read-modify-write per store OBJECT. Two stores
// over the one cache of the app (two modules each making their own) race inside one process.
// ---------------------------------------------------------------------------------------------
describe('DEFECT two CacheManagerStores over one cache race in one process', () => {
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
describe('HELD', () => {
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
      });
      await expect(limiter.consume('u', { cost })).rejects.toThrow(RateLimitConfigError);
      await expect(limiter.refund('u', { cost })).rejects.toThrow(RateLimitConfigError);
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

import { inspect } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { lightenReceipt, RECEIPT } from '../../src/core/decision.js';
import {
  createRateLimiter,
  FixedWindowRateLimit,
  LimitSet,
  MemoryStore,
  RateLimitConfigError,
  RateLimitEngine,
  GcraRateLimit,
  SlidingWindowRateLimit,
  TokenBucketRateLimit,
  type BuiltInRateLimit,
  type McpRateLimiter,
  type RateLimitContext,
} from '../../src/index.js';

/** A custom limiter that counts in memory and records what happened to it. */
class CountingLimiter implements McpRateLimiter {
  used = 0;
  readonly log: string[] = [];
  constructor(
    readonly name: string,
    readonly max: number,
  ) {}
  consume(): number | null {
    if (this.used >= this.max) {
      this.log.push('deny');
      return 7;
    }
    this.used++;
    this.log.push('admit');
    return null;
  }
  refund(): void {
    this.used--;
    this.log.push('refund');
  }
}

const context = (subject = 'user:a'): RateLimitContext => ({ subject, cost: 1 });

describe('custom limiters with built-in ones', () => {
  it('run first, in declared order, and stop at the first denial', async () => {
    const first = new CountingLimiter('first', 0);
    const second = new CountingLimiter('second', 10);
    const engine = new RateLimitEngine(new MemoryStore());
    const decision = await engine.evaluate(new LimitSet([first, second], 'scope'), context());
    expect(decision.allowed).toBe(false);
    expect(decision.retryAfter).toBe(7);
    expect(decision.deniedBy).toBe(first);
    expect(second.log).toEqual([]);
  });

  it('a custom denial consumes no built-in quota, and refunds earlier customs', async () => {
    const builtIn = new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 });
    const admitting = new CountingLimiter('admitting', 10);
    const denying = new CountingLimiter('denying', 0);
    const engine = new RateLimitEngine(new MemoryStore());
    const denied = await engine.evaluate(
      new LimitSet([builtIn, admitting, denying], 'scope'),
      context(),
    );
    expect(denied.allowed).toBe(false);
    expect(admitting.log).toEqual(['admit', 'refund']);
    expect(admitting.used).toBe(0);
    // The built-in limit of 1 is untouched: a call without the denying limiter is admitted.
    const after = await engine.evaluate(new LimitSet([builtIn, admitting], 'scope'), context());
    expect(after.allowed).toBe(true);
  });

  it('a built-in denial refunds every custom limiter that admitted', async () => {
    const builtIn = new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 });
    const custom = new CountingLimiter('custom', 10);
    const engine = new RateLimitEngine(new MemoryStore());
    const set = new LimitSet([custom, builtIn], 'scope');
    expect((await engine.evaluate(set, context())).allowed).toBe(true);
    const denied = await engine.evaluate(set, context());
    expect(denied.allowed).toBe(false);
    expect(denied.deniedBy).toBe(builtIn);
    expect(custom.log).toEqual(['admit', 'admit', 'refund']);
    expect(custom.used).toBe(1);
  });

  it('accepts the number, null and object verdict forms, sync or async', async () => {
    const engine = new RateLimitEngine(new MemoryStore());
    const verdicts = [null, 3, { retryAfter: null, remaining: 4, limit: 5 }, { retryAfter: 2.2 }];
    const outcomes = [];
    for (const verdict of verdicts) {
      const limiter = { consume: async () => verdict };
      outcomes.push(await engine.evaluate(new LimitSet([limiter], 's'), context()));
    }
    expect(outcomes.map((decision) => decision.retryAfter)).toEqual([null, 3, null, 3]);
    expect(outcomes[2].results[0]).toMatchObject({ remaining: 4, quota: 5 });
  });

  it('a verdict that is neither seconds nor null fails loudly instead of admitting', async () => {
    const engine = new RateLimitEngine(new MemoryStore());
    for (const verdict of [
      undefined,
      -1,
      Number.NaN,
      'soon',
      { retryAfter: Number.POSITIVE_INFINITY },
    ]) {
      const limiter = { consume: () => verdict as never };
      await expect(engine.evaluate(new LimitSet([limiter], 's'), context())).rejects.toThrow(
        TypeError,
      );
    }
  });
});

describe('LimitSet', () => {
  it('rejects what is not a limiter, naming the owner and the position', () => {
    expect(() => new LimitSet([{ consume: 1 } as never], 's', 'Tools.search')).toThrow(
      RateLimitConfigError,
    );
    expect(
      () =>
        new LimitSet(
          [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 1 }), 42 as never],
          's',
          'Tools.search',
        ),
    ).toThrow(
      'Tools.search: limit #2 is neither a built-in limit nor an object with consume(context) (got 42)',
    );
  });

  it('gives the same limit declared twice on one handler two separate counters', async () => {
    const limit = new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 });
    const engine = new RateLimitEngine(new MemoryStore());
    const set = new LimitSet([limit, limit], 's');
    expect((await engine.evaluate(set, context())).allowed).toBe(true);
    expect((await engine.evaluate(set, context())).allowed).toBe(false);
  });
});

describe('createRateLimiter', () => {
  it('keys by subject, takes a cost, and reports remaining', async () => {
    const limiter = createRateLimiter({
      limits: [new TokenBucketRateLimit({ capacity: 5, refillPerSecond: 0.001 })],
    });
    const first = await limiter.consume('user:a', { cost: 3 });
    expect(first).toMatchObject({ allowed: true, retryAfter: null });
    expect(first.results[0].remaining).toBe(2);
    expect((await limiter.consume('user:a', { cost: 3 })).allowed).toBe(false);
    expect((await limiter.consume('user:b', { cost: 3 })).allowed).toBe(true);
  });

  it('uses a key function and a per-limit cost from the context', async () => {
    const perOrg = new FixedWindowRateLimit({
      maxCalls: 2,
      perSeconds: 60,
      key: (ctx) => `org:${(ctx.args as { org: string }).org}`,
      cost: (ctx) => ((ctx.args as { heavy: boolean }).heavy ? 2 : 1),
    });
    const limiter = createRateLimiter({ limits: [perOrg] });
    expect(
      (await limiter.consume('user:a', { context: { args: { org: 'x', heavy: false } } })).allowed,
    ).toBe(true);
    expect(
      (await limiter.consume('user:b', { context: { args: { org: 'x', heavy: true } } })).allowed,
    ).toBe(false);
    expect(
      (await limiter.consume('user:b', { context: { args: { org: 'x', heavy: false } } })).allowed,
    ).toBe(true);
    expect(
      (await limiter.consume('user:c', { context: { args: { org: 'y', heavy: true } } })).allowed,
    ).toBe(true);
  });

  it('requires at least one limit', () => {
    expect(() => createRateLimiter({ limits: [] })).toThrow('"limits" must not be empty');
  });

  // consume(subject) without options takes a path of its own (no context object); it must decide
  // exactly as a call with a context does, admitted or denied, with one limit or several.
  it.each<[string, () => BuiltInRateLimit[]]>([
    ['fixed window', () => [new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 2 })]],
    ['sliding window', () => [new SlidingWindowRateLimit({ maxCalls: 3, perSeconds: 2 })]],
    ['token bucket', () => [new TokenBucketRateLimit({ capacity: 3, refillPerSecond: 1.5 })]],
    ['GCRA', () => [new GcraRateLimit({ ratePerSecond: 2, burst: 2 })]],
    [
      'two limits',
      () => [
        new FixedWindowRateLimit({ maxCalls: 4, perSeconds: 3 }),
        new GcraRateLimit({ ratePerSecond: 3, burst: 2 }),
      ],
    ],
  ])('consume(subject) decides as consume(subject, { cost: 1 }): %s', async (_name, limits) => {
    let nowMs = 1_700_000_000_000;
    const clock = () => nowMs;
    const bare = createRateLimiter({
      limits: limits(),
      store: new MemoryStore({ clock }),
      name: 'a',
    });
    const withContext = createRateLimiter({
      limits: limits(),
      store: new MemoryStore({ clock }),
      name: 'b',
    });
    let denied = 0;
    for (let call = 0; call < 60; call++) {
      nowMs += [0, 40, 0, 300, 900][(call * 7) % 5];
      const subject = `user:${call % 2}`;
      const expected = JSON.stringify(await withContext.consume(subject, { cost: 1 }));
      const decision = await bare.consume(subject);
      expect({ call, decision: JSON.stringify(decision) }).toEqual({ call, decision: expected });
      if (!decision.allowed) denied++;
    }
    expect(denied).toBeGreaterThan(5); // the sequence reaches denials, not only admissions
  });

  it.each([
    ['one limit', [new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 2 })]],
    [
      'two limits',
      [
        new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 2 }),
        new TokenBucketRateLimit({ capacity: 5, refillPerSecond: 1 }),
      ],
    ],
  ])(
    'consume(subject) rejects, never throws, when the store cannot decide (%s)',
    async (_, limits) => {
      const limiter = createRateLimiter({
        limits,
        store: new MemoryStore({
          clock: () => {
            throw new Error('clock broke');
          },
        }),
        name: 'test',
      });
      let pending: Promise<unknown> | undefined;
      expect(() => (pending = limiter.consume('user:a'))).not.toThrow();
      await expect(pending).rejects.toThrow('clock broke');
    },
  );

  it('refuses two limits of other settings in one key space (an id that leaves a setting out)', async () => {
    class SloppyWindow extends FixedWindowRateLimit {
      override readonly id = 'fw:sloppy';
    }
    const store = new MemoryStore();
    const tight = createRateLimiter({
      limits: [new SloppyWindow({ maxCalls: 1, perSeconds: 60 })],
      store,
      name: 'shared',
    });
    expect((await tight.consume('user:a')).allowed).toBe(true);
    // The store finds the clash at the first call that shares the key space, and counts nothing.
    const loose = createRateLimiter({
      limits: [new SloppyWindow({ maxCalls: 100, perSeconds: 60 })],
      store,
      name: 'shared',
    });
    await expect(loose.consume('user:a')).rejects.toThrow(RateLimitConfigError);
    await expect(loose.consume('user:b')).rejects.toThrow(
      'already used by a limit of other settings',
    );
    expect((await tight.consume('user:a')).allowed).toBe(false);
  });

  it('consume(subject) rejects a subject that is not a string', async () => {
    const limiter = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 2 })],
    });
    await expect(limiter.consume(42 as unknown as string)).rejects.toThrow(
      'consume: the subject must be a string, e.g. a user id (got 42)',
    );
  });
});

describe('engine.refund, peek and reset', () => {
  it('refund gives the cost back to every built-in limit and calls refund on every custom one', async () => {
    const builtIn = new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 });
    const custom = new CountingLimiter('custom', 1);
    const engine = new RateLimitEngine(new MemoryStore());
    const set = new LimitSet([custom, builtIn], 'scope');
    const admitted = await engine.evaluate(set, context());
    expect(admitted.allowed).toBe(true);
    expect((await engine.evaluate(set, context())).allowed).toBe(false);
    await engine.refund(set, context(), admitted);
    expect(custom.log).toEqual(['admit', 'deny', 'refund']);
    await engine.refund(set, context(), admitted); // once only
    expect(custom.log).toEqual(['admit', 'deny', 'refund']);
    expect((await engine.evaluate(set, context())).allowed).toBe(true);
  });

  it('a lightened receipt keeps neither the request nor the store state, and still refunds', async () => {
    // A multi round-trip call's charge is kept for minutes: it must not keep a sliding window's
    // list of admissions (the store's answer) nor the request alive.
    const limit = new SlidingWindowRateLimit({ maxCalls: 2, perSeconds: 60 });
    const engine = new RateLimitEngine(new MemoryStore());
    const set = new LimitSet([limit], 'scope');
    const heavy = { ...context(), request: { body: 'x'.repeat(64) } };
    const admitted = await engine.evaluate(set, heavy);
    // What the receipt holds (internal: the engine's, under a symbol of the decision).
    const held = () => (admitted as unknown as Record<symbol, Record<string, unknown>>)[RECEIPT];
    expect(inspect(held().context)).toContain('xxxx');
    expect(inspect(held().outcomes)).toMatch(/state: \[/);
    lightenReceipt(admitted, context());
    expect(inspect(held().context)).not.toContain('xxxx');
    expect(inspect(held().outcomes)).not.toMatch(/state/);
    expect((await engine.evaluate(set, context())).allowed).toBe(true);
    expect((await engine.evaluate(set, context())).allowed).toBe(false);
    await engine.refund(set, context(), admitted);
    expect((await engine.evaluate(set, context())).allowed).toBe(true);
  });

  it('peek counts nothing; reset lets the subject start afresh, others untouched', async () => {
    const limit = new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 });
    const engine = new RateLimitEngine(new MemoryStore());
    const set = new LimitSet([limit], 'scope');
    await engine.evaluate(set, context('user:a'));
    await engine.evaluate(set, context('user:b'));
    for (let index = 0; index < 3; index++) {
      expect((await engine.peek(set, context('user:a'))).results[0].remaining).toBe(1);
    }
    await engine.reset(set, 'user:a');
    expect((await engine.peek(set, context('user:a'))).results[0].remaining).toBe(2);
    expect((await engine.peek(set, context('user:b'))).results[0].remaining).toBe(1);
  });

  it('a store without refund, peek or reset is refused with a configuration error', async () => {
    const store = { evaluate: new MemoryStore().evaluate.bind(new MemoryStore()) };
    const engine = new RateLimitEngine(store);
    const set = new LimitSet([new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 })], 's');
    const admitted = await engine.evaluate(set, context());
    await expect(engine.refund(set, context(), admitted)).rejects.toThrow(RateLimitConfigError);
    await expect(engine.peek(set, context())).rejects.toThrow('has no peek()');
    await expect(engine.reset(set, 'user:a')).rejects.toThrow('has no reset()');
  });
});

describe('engine.decide', () => {
  const limits = () => [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 })];

  it('answers the decision itself on a store with evaluateNow, a promise on others', async () => {
    const memory = new MemoryStore();
    const inMemory = new RateLimitEngine(memory);
    const set = new LimitSet(limits(), 's');
    const first = inMemory.decide(set, context());
    expect(first).not.toBeInstanceOf(Promise);
    expect((first as { allowed: boolean }).allowed).toBe(true);
    const asynchronous = new RateLimitEngine({ evaluate: (checks) => memory.evaluate(checks) });
    const second = asynchronous.decide(set, context());
    expect(second).toBeInstanceOf(Promise);
    expect((await second).allowed).toBe(false);
  });

  it('with a custom limiter, decides through the promise path even in memory', async () => {
    const engine = new RateLimitEngine(new MemoryStore());
    const decision = engine.decide(
      new LimitSet([new CountingLimiter('custom', 5), ...limits()], 's'),
      context(),
    );
    expect(decision).toBeInstanceOf(Promise);
    expect((await decision).results.map((result) => result.allowed)).toEqual([true, true]);
  });
});

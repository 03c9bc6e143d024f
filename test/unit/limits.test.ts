import { describe, expect, it } from '@jest/globals';
import {
  ConcurrencyLimit,
  createRateLimiter,
  FixedWindowRateLimit,
  GcraRateLimit,
  RateLimitConfigError,
  SlidingWindowRateLimit,
  TokenBucketRateLimit,
} from '../../src/index.js';

type AnyOptions = Record<string, unknown>;
type LimitClass = new (options: never) => unknown;

const classes: [string, LimitClass, AnyOptions, Record<string, 'integer' | 'number'>][] = [
  [
    'FixedWindowRateLimit',
    FixedWindowRateLimit,
    { maxCalls: 5, perSeconds: 10 },
    { maxCalls: 'integer', perSeconds: 'number' },
  ],
  [
    'SlidingWindowRateLimit',
    SlidingWindowRateLimit,
    { maxCalls: 5, perSeconds: 10 },
    { maxCalls: 'integer', perSeconds: 'number' },
  ],
  [
    'TokenBucketRateLimit',
    TokenBucketRateLimit,
    { capacity: 5, refillPerSecond: 0.5 },
    { capacity: 'number', refillPerSecond: 'number' },
  ],
  [
    'GcraRateLimit',
    GcraRateLimit,
    { ratePerSecond: 0.5, burst: 3 },
    { ratePerSecond: 'number', burst: 'integer' },
  ],
  [
    'ConcurrencyLimit',
    ConcurrencyLimit,
    { maxConcurrent: 2, leaseSeconds: 30 },
    { maxConcurrent: 'integer' },
  ],
];

const construct = (Limit: LimitClass, options: AnyOptions) => () => new Limit(options as never);

describe.each(classes)(
  '%s validates its options at construction',
  (className, Limit, valid, fields) => {
    it('accepts valid options', () => {
      expect(construct(Limit, valid)).not.toThrow();
    });

    for (const [field, kind] of Object.entries(fields)) {
      const bad: unknown[] = [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '5', undefined, null];
      if (kind === 'integer') bad.push(1.5);
      it.each(bad)(`rejects ${field} = %p, naming the class and the field`, (value) => {
        const make = construct(Limit, { ...valid, [field]: value });
        expect(make).toThrow(RateLimitConfigError);
        expect(make).toThrow(new RegExp(`^${className}: "${field}"`));
      });
    }

    it('rejects unknown fields, naming them', () => {
      expect(construct(Limit, { ...valid, max_calls: 3 })).toThrow(
        `${className}: unknown option "max_calls"`,
      );
    });

    it('rejects a bad namespace, key or cost', () => {
      expect(construct(Limit, { ...valid, namespace: '' })).toThrow(`${className}: "namespace"`);
      expect(construct(Limit, { ...valid, key: 'user' })).toThrow(`${className}: "key"`);
      expect(construct(Limit, { ...valid, cost: -1 })).toThrow(`${className}: "cost"`);
      expect(construct(Limit, { ...valid, cost: Number.NaN })).toThrow(`${className}: "cost"`);
    });

    it('rejects options that are not an object', () => {
      expect(construct(Limit, null as never)).toThrow(`${className}: options must be an object`);
    });
  },
);

describe('costs', () => {
  it('window limits count whole calls; bucket limits accept fractions', () => {
    expect(() => new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 1, cost: 0.5 })).toThrow(
      'non-negative integer',
    );
    expect(
      () => new TokenBucketRateLimit({ capacity: 5, refillPerSecond: 1, cost: 0.5 }),
    ).not.toThrow();
  });

  it('a cost function that returns garbage throws instead of letting the call through', () => {
    const limit = new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 1, cost: () => Number.NaN });
    expect(() => limit.costOf({ subject: 's', cost: 1 })).toThrow('FixedWindowRateLimit: "cost"');
  });

  // Found by attack review 10: such a limit refused every call, each answered "never admitted".
  it('a fixed cost above the whole quota is refused where the limit is used', () => {
    const limit = new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60, cost: 3 });
    expect(() => createRateLimiter({ limits: [limit] })).toThrow(
      'createRateLimiter: FixedWindowRateLimit(2 per 60s) (limit #1) has a cost of 3, more than its whole quota of 2: it would refuse every call',
    );
    const fits = new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60, cost: 2 });
    expect(() => createRateLimiter({ limits: [fits] })).not.toThrow();
  });

  it('0 is a valid cost (a free call), not "use the default"', () => {
    const limit = new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 1, cost: 0 });
    expect(limit.costOf({ subject: 's', cost: 3 })).toBe(0);
  });
});

describe('policy and identity', () => {
  it('describes quota and window for headers', () => {
    expect(new FixedWindowRateLimit({ maxCalls: 120, perSeconds: 60 }).policy).toEqual({
      quota: 120,
      windowSeconds: 60,
    });
    expect(new TokenBucketRateLimit({ capacity: 10, refillPerSecond: 2 }).policy).toEqual({
      quota: 10,
      windowSeconds: 5,
    });
  });

  it('different settings have different ids (their state is never mixed up)', () => {
    const ids = [
      new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 10 }).id,
      new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 11 }).id,
      new SlidingWindowRateLimit({ maxCalls: 5, perSeconds: 10 }).id,
      new TokenBucketRateLimit({ capacity: 5, refillPerSecond: 10 }).id,
      new GcraRateLimit({ ratePerSecond: 5, burst: 10 }).id,
    ];
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('ConcurrencyLimit', () => {
  it('leases a slot for 60 s by default, leaseSeconds from 1 to a day', () => {
    const limit = new ConcurrencyLimit({ maxConcurrent: 3 });
    expect(limit.params).toEqual({ limit: 3, leaseMs: 60_000 });
    expect(limit.policy).toEqual({ quota: 3, windowSeconds: 60 });
    expect(limit.describe()).toBe('ConcurrencyLimit(3 in flight, lease 60s)');
    expect(new ConcurrencyLimit({ maxConcurrent: 1, leaseSeconds: 1 }).params.leaseMs).toBe(1000);
    expect(new ConcurrencyLimit({ maxConcurrent: 1, leaseSeconds: 86_400 }).id).toBe(
      'cc:1:86400000',
    );
    for (const leaseSeconds of [0.5, 86_401, 0, -1, Number.NaN, Infinity, '60', null]) {
      expect(() => new ConcurrencyLimit({ maxConcurrent: 1, leaseSeconds } as never)).toThrow(
        /^ConcurrencyLimit: "leaseSeconds"/,
      );
    }
  });

  it('refuses more than 10 000 slots (its state holds one lease per call in flight)', () => {
    expect(() => new ConcurrencyLimit({ maxConcurrent: 10_000 })).not.toThrow();
    expect(() => new ConcurrencyLimit({ maxConcurrent: 10_001 })).toThrow(
      'ConcurrencyLimit: "maxConcurrent" must be at most 10000',
    );
  });

  it("takes one slot per call whatever the call's cost, unless its own cost says otherwise", () => {
    expect(new ConcurrencyLimit({ maxConcurrent: 2 }).costOf({ subject: 's', cost: 5 })).toBe(1);
    expect(new ConcurrencyLimit({ maxConcurrent: 2 }).costOf({ subject: 's', cost: 0 })).toBe(1);
    const weighted = new ConcurrencyLimit({ maxConcurrent: 4, cost: (context) => context.cost });
    expect(weighted.costOf({ subject: 's', cost: 3 })).toBe(3);
    expect(() => weighted.costOf({ subject: 's', cost: 1.5 })).toThrow('ConcurrencyLimit: "cost"');
    expect(() => new ConcurrencyLimit({ maxConcurrent: 2, cost: 0.5 })).toThrow(
      'non-negative integer',
    );
  });
});

// createRateLimiter with a ConcurrencyLimit: decision.release() frees the slot once; refund stays
// for rate limits. (The algorithm itself is in the conformance table, for every store.)
import { describe, expect, it } from '@jest/globals';
import {
  ConcurrencyLimit,
  createRateLimiter,
  FixedWindowRateLimit,
  MemoryStore,
} from '../../src/index.js';
import { QUOTA_META_KEY, withQuota } from '../../src/nest/advertised-limits.js';

function limiter(...extra: FixedWindowRateLimit[]) {
  return createRateLimiter({
    limits: [new ConcurrencyLimit({ maxConcurrent: 1 }), ...extra],
    store: new MemoryStore(),
    name: 'export',
  });
}

describe('createRateLimiter: release()', () => {
  it('frees the slot of an admitted call, once: a second release frees nothing', async () => {
    const exports = limiter();
    const first = await exports.consume('user:1');
    expect(first.allowed).toBe(true);
    const denied = await exports.consume('user:1');
    expect(denied.allowed).toBe(false);
    expect(denied.retryAfter).toBe(60);
    expect((await exports.consume('user:2')).allowed).toBe(true); // per subject

    await first.release();
    const second = await exports.consume('user:1');
    expect(second.allowed).toBe(true);
    await first.release(); // must not free the second call's slot
    await denied.release(); // a denial holds nothing
    expect((await exports.consume('user:1')).allowed).toBe(false);

    await Promise.all([second.release(), second.release()]); // at once: still once
    const third = await exports.consume('user:1');
    expect(third.allowed).toBe(true);
    expect((await exports.consume('user:1')).allowed).toBe(false);
  });

  it('refund gives back the rate limits and keeps the slot; release frees the slot only', async () => {
    const exports = limiter(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 3600 }));
    const first = await exports.consume('user:1');
    expect(first.results.map((result) => result.remaining)).toEqual([0, 1]);
    await exports.refund(first);
    const whileHeld = await exports.consume('user:1');
    expect(whileHeld.allowed).toBe(false);
    expect(whileHeld.results.map((result) => result.remaining)).toEqual([0, 2]);

    await first.release();
    const second = await exports.consume('user:1');
    expect(second.results.map((result) => result.remaining)).toEqual([0, 1]);
    await second.release();
    const third = await exports.consume('user:1');
    // The release gave back no rate: two calls counted (the refunded one did not).
    expect(third.results.map((result) => result.remaining)).toEqual([0, 0]);
    await exports.refund(first); // once only
    await third.release();
    expect((await exports.consume('user:1')).allowed).toBe(false); // out of rate now
  });

  it('a decision without concurrency limits, or a peek, releases nothing and says so by resolving', async () => {
    const plain = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 })],
    });
    const decision = await plain.consume('user:1');
    await expect(decision.release()).resolves.toBeUndefined();
    expect((await plain.consume('user:1')).allowed).toBe(false);

    const exports = limiter();
    const held = await exports.consume('user:1');
    await (await exports.peek('user:1')).release();
    expect((await exports.consume('user:1')).allowed).toBe(false);
    await held.release();
  });

  it("keeps release off the decision's JSON and keys", async () => {
    const decision = await limiter().consume('user:1');
    expect(Object.keys(decision)).toEqual([
      'allowed',
      'retryAfter',
      'retryAfterMs',
      'deniedBy',
      'results',
    ]);
    expect(JSON.parse(JSON.stringify({ ...decision, results: [] }))).toEqual({
      allowed: true,
      retryAfter: null,
      retryAfterMs: 0,
      results: [],
    });
  });
});

describe('advertiseLimits', () => {
  it("a tool result reports the rate limits' quota, not the concurrency slots", async () => {
    const exports = limiter(new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 60 }));
    const decision = await exports.consume('user:1');
    const result = withQuota({ content: [] }, decision.results) as {
      _meta: Record<string, { limit: string; remaining: number }[]>;
    };
    expect(result._meta[QUOTA_META_KEY].map(({ limit, remaining }) => [limit, remaining])).toEqual([
      ['FixedWindowRateLimit(5 per 60s)', 4],
    ]);
    await decision.release();
  });
});

describe('ConcurrencyLimit: every call takes a slot', () => {
  it('refuses a cost of 0, fixed or given by a function of the call', async () => {
    expect(() => new ConcurrencyLimit({ maxConcurrent: 2, cost: 0 })).toThrow(
      'ConcurrencyLimit: "cost" must take at least one slot (got 0)',
    );
    // A cost read from the client's arguments: a call that asks for 0 must not run uncounted.
    const weighted = createRateLimiter({
      limits: [
        new ConcurrencyLimit({
          maxConcurrent: 1,
          cost: (context) => Number((context.args as { slots?: number } | undefined)?.slots ?? 1),
        }),
      ],
      store: new MemoryStore(),
      name: 'weighted',
    });
    expect((await weighted.consume('user:1')).allowed).toBe(true);
    for (let call = 0; call < 3; call++) {
      await expect(weighted.consume('user:1', { context: { args: { slots: 0 } } })).rejects.toThrow(
        'must take at least one slot',
      );
    }
    expect((await weighted.consume('user:2', { context: { args: { slots: 1 } } })).allowed).toBe(
      true,
    );
  });
});

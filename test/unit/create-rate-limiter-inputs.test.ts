// Attack review (attack3): bad inputs to the limiter outside Nest are clear errors, as they are on
// McpRateLimitService ("the subject must be a non-empty string, e.g. a user id").
import { expect, test } from '@jest/globals';
import {
  createRateLimiter,
  FixedWindowRateLimit,
  RateLimitConfigError,
  type McpRateLimiter,
} from '../../src/index.js';

const badSubjects: unknown[] = [undefined, null, 42, {}, ['user:a']];

// Found by an attack review: createRateLimiter did not check the subject. consume/peek of a
// non-string blamed a `key(context)` option the limiter does not have, reset failed deep inside
// the key encoding, refund(undefined) read a symbol of undefined.
test('a subject that is not a string is an error that names the subject', async () => {
  const limiter = createRateLimiter({
    limits: [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 })],
  });
  for (const subject of badSubjects) {
    for (const operation of ['consume', 'peek', 'reset'] as const) {
      await expect(limiter[operation](subject as string)).rejects.toThrow(/subject/);
    }
  }
  await expect(limiter.refund(undefined as never)).rejects.toThrow(/decision/);
});

// Redis Cluster hashes a key whole when its first {…} is empty: a call's keys (and a key's reset
// mark) would land in different slots, and every call with two limits would fail there.
test('a key prefix with an empty hash tag is refused; named hash tags are fine', () => {
  const limits = [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 })];
  for (const prefix of ['app{}:', '{}', 'a{}{b}:']) {
    expect(() => createRateLimiter({ limits, prefix })).toThrow(RateLimitConfigError);
    expect(() => createRateLimiter({ limits, prefix })).toThrow(/empty "\{\}"/);
  }
  for (const prefix of ['{app}:', 'a{', 'a}{b}', 'mcprl:']) {
    expect(() => createRateLimiter({ limits, prefix })).not.toThrow();
  }
});

// Attack review 12: the cost given to consume() was checked only by the built-in limits that read
// it. A limiter of custom limiters alone (or whose built-in limits have a cost of their own)
// handed -3, NaN or '5' to them: a credits limiter doing `used += cost` gave credits instead.
test('a cost that is not a non-negative finite number is an error, whatever the limits', async () => {
  const costs: unknown[] = [];
  const credits: McpRateLimiter = {
    consume: (context) => {
      costs.push(context.cost);
      return null;
    },
  };
  const fixedCost = new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 60, cost: 1 });
  for (const limits of [[credits], [credits, fixedCost]]) {
    const limiter = createRateLimiter({ limits });
    for (const cost of [-3, NaN, Infinity, '5', null]) {
      await expect(limiter.consume('user:a', { cost: cost as number })).rejects.toThrow(
        RateLimitConfigError,
      );
      await expect(limiter.peek('user:a', { cost: cost as number })).rejects.toThrow(/"cost"/);
    }
    expect((await limiter.consume('user:a', { cost: 2.5 })).allowed).toBe(true);
  }
  expect(costs).toEqual([2.5, 2.5]);
});

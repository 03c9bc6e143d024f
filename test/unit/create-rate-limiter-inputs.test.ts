// Attack review (attack3): bad inputs to the limiter outside Nest are clear errors, as they are on
// McpRateLimitService ("the subject must be a non-empty string, e.g. a user id").
import { expect, test } from '@jest/globals';
import { createRateLimiter, FixedWindowRateLimit, RateLimitConfigError } from '../../src/index.js';

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

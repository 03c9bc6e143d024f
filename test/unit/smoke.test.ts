import { describe, expect, it } from '@jest/globals';
import { createRateLimiter, FixedWindowRateLimit } from '../../src/index.js';

describe('createRateLimiter', () => {
  it('admits up to the limit then denies', async () => {
    const limiter = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 })],
    });
    expect((await limiter.consume('a')).allowed).toBe(true);
    expect((await limiter.consume('a')).allowed).toBe(true);
    const third = await limiter.consume('a');
    expect(third.allowed).toBe(false);
    expect(third.retryAfter).toBeGreaterThanOrEqual(1);
  });
});

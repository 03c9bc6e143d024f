// Attack review 12 (custom limiters): a custom limiter whose refund() throws kept the quota of the
// custom limiters declared after it. A denied call, or an admitted one refunded, then cost those
// limiters a unit it never used; and a consume() that failed was reported as the refund's error.
import { describe, expect, it } from '@jest/globals';
import {
  createRateLimiter,
  FixedWindowRateLimit,
  type McpRateLimiter,
  type RateLimitContext,
} from '../../src/index.js';

/** Credits taken per call; its refund gives them back, or fails (a database that is down). */
class Credits implements McpRateLimiter {
  used = 0;
  constructor(private readonly refundFails = false) {}
  consume(context: RateLimitContext): null {
    this.used += context.cost;
    return null;
  }
  async refund(context: RateLimitContext): Promise<void> {
    await Promise.resolve();
    if (this.refundFails) throw new Error('credits database unavailable');
    this.used -= context.cost;
  }
}

describe('a custom limiter whose refund throws', () => {
  it('does not keep the quota of the others when a built-in limit denies', async () => {
    const failing = new Credits(true);
    const later = new Credits();
    const limiter = createRateLimiter({
      limits: [failing, later, new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 })],
    });
    expect((await limiter.consume('user:a')).allowed).toBe(true);
    // The denied call fails loudly (a refund failed), but every other limiter got its unit back.
    await expect(limiter.consume('user:a')).rejects.toThrow('credits database unavailable');
    expect(later.used).toBe(1);
  });

  it('does not keep the quota of the others on refund(decision)', async () => {
    const failing = new Credits(true);
    const later = new Credits();
    const limiter = createRateLimiter({ limits: [failing, later] });
    const decision = await limiter.consume('user:a');
    await expect(limiter.refund(decision)).rejects.toThrow('credits database unavailable');
    expect(later.used).toBe(0);
  });

  it('a consume() that fails is reported as itself, and every admitted limiter is refunded', async () => {
    const first = new Credits();
    const failing = new Credits(true);
    const broken: McpRateLimiter = {
      consume: () => {
        throw new Error('limiter backend timed out');
      },
    };
    const limiter = createRateLimiter({ limits: [failing, first, broken] });
    await expect(limiter.consume('user:a')).rejects.toThrow('limiter backend timed out');
    expect(first.used).toBe(0);
  });
});

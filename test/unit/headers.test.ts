import { describe, expect, it } from '@jest/globals';
import { FixedWindowRateLimit, type LimitResult } from '../../src/index.js';
import { rateLimitHeaderValues } from '../../src/nest/headers.js';

const resultOf = (limiter: LimitResult['limiter'], remaining: number): LimitResult => ({
  limiter,
  allowed: true,
  retryAfterMs: 0,
  remaining,
  quota: 5,
  resetAfterMs: 4_200,
});

describe('rateLimitHeaderValues', () => {
  it('names each limit as an sf-string, per level, and keeps the names apart call after call', () => {
    const shared = new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 10, namespace: 'a"b\\c é' });
    const plain = new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 10 });
    const custom = { consume: () => null };
    for (let call = 0; call < 2; call++) {
      const values = rateLimitHeaderValues([
        { results: [resultOf(shared, 4)], messageLevel: true },
        {
          results: [resultOf(shared, 3), resultOf(plain, 2), resultOf(custom, 1)],
          messageLevel: false,
        },
      ]);
      expect(values).toEqual({
        policy:
          '"msg-a\\"b\\\\c _";q=5;w=10, "a\\"b\\\\c _";q=5;w=10, "fw:5:10000";q=5;w=10, "custom-3";q=5',
        remaining:
          '"msg-a\\"b\\\\c _";r=4;t=5, "a\\"b\\\\c _";r=3;t=5, "fw:5:10000";r=2;t=5, "custom-3";r=1;t=5',
      });
    }
  });
});

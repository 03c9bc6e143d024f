// Attack review 12: a fixed window's denial names the end of its window (`retryAfterMs`), but the
// window a call falls in was found by a float division, floor(now / period): with a period of a
// fraction of a millisecond (perSeconds 8.32594248191169), a call made exactly at that end could
// still land in the old window. It was denied again, with `retryAfterMs: 0` (a denial that says
// "no wait"), in about 9 % of such windows (a fuzz of random fractional periods). The Nest wire
// rounds up to whole seconds, but createRateLimiter's callers read `retryAfterMs`. Both twins.
import { expect, test } from '@jest/globals';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { FixedWindowRateLimit } from '../../src/core/limits.js';
import { clockedStores } from './clocked-stores.js';
import { redisDescribe } from './redis-available.js';

const describeRedis = await redisDescribe('a fixed window denial names when it admits again', {
  ownServers: true,
});

// Periods and times where the end of the window and floor(now / period) disagreed.
const CASES: [perSeconds: number, firstCallMs: number][] = [
  [8.32594248191169, 1800963026424.472],
  [39.894350424768334, 1803381215126.2417],
  [20.048926843726562, 1800962396051.4746],
];

describeRedis('a fixed window denial names when it admits again', () => {
  const stores = clockedStores();

  test.each(stores)(
    '%s: a call made at the retryAfterMs of its denial is admitted',
    async (label, make) => {
      let nowMs = 0;
      const store = make(() => nowMs);
      try {
        for (const [perSeconds, firstCallMs] of CASES) {
          const limiter = createRateLimiter({
            limits: [new FixedWindowRateLimit({ maxCalls: 1, perSeconds })],
            store,
            name: `fw-retry-${label}-${Math.random()}`,
          });
          nowMs = firstCallMs;
          expect((await limiter.consume('alice')).allowed).toBe(true);
          nowMs += 1;
          const denied = await limiter.consume('alice');
          expect(denied.allowed).toBe(false);
          expect(denied.retryAfterMs).toBeGreaterThan(0);
          nowMs += denied.retryAfterMs;
          const retried = await limiter.consume('alice');
          expect({ perSeconds, allowed: retried.allowed }).toEqual({ perSeconds, allowed: true });
        }
      } finally {
        await store.close();
      }
    },
  );
});

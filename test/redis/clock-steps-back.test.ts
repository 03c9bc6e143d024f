// A store's clock may step back: Redis's TIME is its host's wall clock (an NTP step, a failover to
// a replica whose clock is behind), and the outage policy's record runs on the store's time as last
// seen (a reply that took long makes it lag). A state written at a later time than the call that
// reads it must never read as a fresh allowance, nor a refund give back more than its call took.
// Both twins: the MemoryStore (TypeScript) and the RedisStore (Lua) with an injected clock.
import { expect, test } from '@jest/globals';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import {
  FixedWindowRateLimit,
  TokenBucketRateLimit,
  type BuiltInRateLimit,
} from '../../src/core/limits.js';
import { clockedStores, type ClockedStore } from './clocked-stores.js';
import { redisDescribe } from './redis-available.js';

const describeRedis = await redisDescribe('a store clock that steps back', { ownServers: true });
const quiet = { warn: () => undefined };
const BOUNDARY_MS = 1_800_000_000_000; // a multiple of 60 s

describeRedis('a store clock that steps back gives no fresh allowance', () => {
  const stores = clockedStores();

  function limiterOf(store: ClockedStore, limit: BuiltInRateLimit, name: string) {
    return createRateLimiter({ limits: [limit], store, name, logger: quiet });
  }

  async function admitted(limiter: { consume(s: string): Promise<{ allowed: boolean }> }) {
    let count = 0;
    for (let index = 0; index < 10; index++) if ((await limiter.consume('alice')).allowed) count++;
    return count;
  }

  test.each(stores)(
    '%s: a fixed window used up, then the clock steps back across its start',
    async (label, make) => {
      let nowMs = BOUNDARY_MS + 1_000;
      const store = make(() => nowMs);
      try {
        const limiter = limiterOf(
          store,
          new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 60 }),
          `fw-${label}-${Math.random()}`,
        );
        expect(await admitted(limiter)).toBe(5);
        nowMs = BOUNDARY_MS - 9_000; // 10 s back: the previous window by this clock
        const back = await admitted(limiter);
        nowMs = BOUNDARY_MS + 10_000; // the clock catches up: the window of the first five
        const caughtUp = await admitted(limiter);
        expect(back + caughtUp).toBe(0);
      } finally {
        await store.close();
      }
    },
  );

  test.each(stores)(
    '%s: a token bucket refund after the clock stepped back gives back one call, not the skew',
    async (label, make) => {
      let nowMs = BOUNDARY_MS;
      const store = make(() => nowMs);
      try {
        const limit = new TokenBucketRateLimit({ capacity: 5, refillPerSecond: 1 });
        const name = `tb-${label}-${Math.random()}`;
        const limiter = limiterOf(store, limit, name);
        const first = await limiter.consume('alice');
        for (let index = 0; index < 4; index++) await limiter.consume('alice');
        nowMs -= 10_000;
        await limiter.refund(first); // one token back
        // Another instance on the same store (its own outage record knows nothing of alice).
        expect(await admitted(limiterOf(store, limit, name))).toBe(1);
      } finally {
        await store.close();
      }
    },
  );
});

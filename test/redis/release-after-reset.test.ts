// Attack review 12: a reset and the calls around it in one script call. The calls a RedisStore gets
// in one tick share one script call, decided at one Redis time. A call admitted before a reset in
// that script call and one admitted after it took leases of the same expiry; the reset dropped the
// first's, and its release (when its work ended) then freed the second's, which still ran: a third
// call was admitted beside it, two in flight under `maxConcurrent: 1`. (A release reads no reset
// marker: at any other time, the leases of later calls expire later, and a release frees nothing
// of them.)
import { expect, test } from '@jest/globals';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { ConcurrencyLimit } from '../../src/core/limits.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { uniqueSubject } from './clients.js';
import { REDIS_URL, redisDescribe } from './redis-available.js';

const describeRedis = await redisDescribe('a release after a reset in the same script call');

describeRedis('a release after a reset in the same script call', () => {
  test.each(['deny', 'insurance'] as const)(
    'onStoreError %s: the release of a call admitted before the reset frees no later call',
    async (policy) => {
      const store = RedisStore.fromUrl(REDIS_URL);
      try {
        const limiter = createRateLimiter({
          name: `release-after-reset-${Math.random().toString(36).slice(2)}`,
          limits: [new ConcurrencyLimit({ maxConcurrent: 1 })],
          store,
          onStoreError: policy,
        });
        await (await limiter.consume(uniqueSubject('warm-up'))).release(); // connected
        const subject = uniqueSubject('alice');
        // One tick: a call, a support reset of its subject, another call.
        const first = limiter.consume(subject);
        const reset = limiter.reset(subject);
        // Microtasks of this tick: the reset is queued, its script call not yet sent.
        for (let turn = 0; turn < 5; turn++) await Promise.resolve();
        const second = limiter.consume(subject);
        const [early, , late] = await Promise.all([first, reset, second]);
        expect(early.allowed).toBe(true);
        expect(late.allowed).toBe(true); // the reset gave a fresh slot
        await early.release(); // the first call's work ends; the second's still runs
        expect((await limiter.consume(subject)).allowed).toBe(false);
        await late.release();
        expect((await limiter.consume(subject)).allowed).toBe(true);
      } finally {
        await store.close();
      }
    },
  );
});

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
import { RedisStore, type RedisClientLike } from '../../src/core/stores/redis-store.js';
import { connectNodeRedis, uniqueSubject } from './clients.js';
import { REDIS_URL, redisDescribe } from './redis-available.js';

const describeRedis = await redisDescribe('a release after a reset in the same script call');

describeRedis('a release after a reset in the same script call', () => {
  test.each(['deny', 'insurance'] as const)(
    'onStoreError %s: the release of a call admitted before the reset frees no later call',
    async (policy) => {
      const client = await connectNodeRedis(REDIS_URL);
      // The store's client, keeping the KEYS of every script call it sends.
      const scriptKeys: string[][] = [];
      const counting = new Proxy(client, {
        get(target, property) {
          const value: unknown = Reflect.get(target, property, target);
          if (typeof value !== 'function') return value;
          const method = (value as (...args: unknown[]) => unknown).bind(target);
          if (property !== 'sendCommand') return method;
          return (args: string[], ...rest: unknown[]) => {
            if (args[0] === 'EVALSHA' || args[0] === 'EVAL') {
              scriptKeys.push(args.slice(3, 3 + Number(args[2])));
            }
            return method(args, ...rest);
          };
        },
      }) as unknown as RedisClientLike;
      const store = new RedisStore({ client: counting });
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
        // The case this test is about: the first call and the reset shared a script call (its
        // KEYS: the lease list evaluated, then reset with its marker), not one each.
        const shared = scriptKeys.some(
          (keys) =>
            keys.filter((key) => key.includes(subject) && !key.endsWith('!reset')).length === 2 &&
            keys.some((key) => key.includes(subject) && key.endsWith('!reset')),
        );
        expect(shared).toBe(true);
        expect(early.allowed).toBe(true);
        expect(late.allowed).toBe(true); // the reset gave a fresh slot
        await early.release(); // the first call's work ends; the second's still runs
        expect((await limiter.consume(subject)).allowed).toBe(false);
        await late.release();
        expect((await limiter.consume(subject)).allowed).toBe(true);
      } finally {
        await store.close();
        await client.close();
      }
    },
  );
});

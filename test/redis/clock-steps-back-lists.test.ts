// Attack review 12: the list-keeping limits (sliding window, concurrency) when the store's clock
// steps back (Redis TIME is its host's wall clock: an NTP step, a failover to a replica whose clock
// is behind). A call admitted after the step appends an entry (a lease) that ends before those of
// the calls made before it, and the list was then kept only until that newest-appended entry ended:
// Redis expired the key (PEXPIRE from the new entry), the MemoryStore dropped its state with a
// young generation that expired early, while the earlier call's entry still counted. Its unit came
// back early: a third call in flight under maxConcurrent 2 (its first caller still running), a
// third call in a second under 2 per second. Both twins: the MemoryStore (its sweep called by hand
// at the moments that matter) and a RedisStore whose keys live exactly their TTL (no extraTtlMs),
// the step of its clock played by lengthening the TTLs it had set (what a step does to them).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createClient } from 'redis';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import {
  ConcurrencyLimit,
  SlidingWindowRateLimit,
  type BuiltInRateLimit,
} from '../../src/core/limits.js';
import { MemoryStore } from '../../src/core/stores/memory-store.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import type { RateLimitStore } from '../../src/core/stores/store.js';
import { REDIS_URL, redisDescribe } from './redis-available.js';

const describeRedis = await redisDescribe('a list kept until its latest entry ends');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const LIMITS: [string, () => BuiltInRateLimit][] = [
  ['ConcurrencyLimit', () => new ConcurrencyLimit({ maxConcurrent: 2, leaseSeconds: 1 })],
  ['SlidingWindowRateLimit', () => new SlidingWindowRateLimit({ maxCalls: 2, perSeconds: 1 })],
];

describeRedis('a list kept until its latest entry ends, though the clock stepped back', () => {
  let client: ReturnType<typeof createClient>;
  beforeAll(async () => {
    client = createClient({ url: REDIS_URL });
    await client.connect();
  });
  afterAll(async () => {
    await client?.quit();
  });

  /**
   * A call at T, one after the clock stepped back 900 ms (`steppedBack` makes the store see it),
   * then two calls at T + 150 ms, 1,050 ms later (`waited`), when the first call's entry still
   * counts: how many of those two were admitted. They come from another instance, whose own outage
   * record knows nothing of the first two.
   */
  async function thirdCalls(
    store: RateLimitStore,
    limit: BuiltInRateLimit,
    clock: { nowMs: number },
    steppedBack: (name: string) => Promise<void>,
    waited: () => Promise<void>,
  ): Promise<number> {
    const name = `lists-${Math.random().toString(36).slice(2)}`;
    const instance = () => createRateLimiter({ limits: [limit], store, name });
    const limiter = instance();
    const startMs = clock.nowMs;
    expect((await limiter.consume('alice')).allowed).toBe(true); // runs on (its entry: to T + 1 s)
    clock.nowMs = startMs - 900; // the clock steps back
    await steppedBack(name);
    expect((await limiter.consume('alice')).allowed).toBe(true); // its entry: to T + 100 ms
    clock.nowMs = startMs + 150;
    await waited();
    const other = instance();
    let admitted = 0;
    for (let call = 0; call < 2; call++) if ((await other.consume('alice')).allowed) admitted++;
    return admitted;
  }

  test.each(LIMITS)('MemoryStore: %s', async (_, limit) => {
    const clock = { nowMs: 1_800_000_000_000 };
    const store = new MemoryStore({ clock: () => clock.nowMs });
    try {
      // The sweep runs between the calls (its timer, at any moment): it ages the first write, and
      // drops what has expired by then.
      const sweep = () => Promise.resolve(store.sweep());
      const admitted = await thirdCalls(store, limit(), clock, sweep, sweep);
      expect(admitted).toBeLessThanOrEqual(1); // 2 at most, the first call's still counted
    } finally {
      store.close();
    }
  });

  test.each(LIMITS)('RedisStore: %s', async (_, limit) => {
    const clock = { nowMs: 1_800_000_000_000 };
    const store = new RedisStore({ client, clock: () => clock.nowMs });
    // Redis expires keys by its own clock: when it steps back 900 ms, every key lives 900 ms more.
    const steppedBack = async (name: string) => {
      for (const key of await client.keys(`*${name}*`)) {
        await client.pExpire(key, (await client.pTTL(key)) + 900);
      }
    };
    try {
      const admitted = await thirdCalls(store, limit(), clock, steppedBack, () => sleep(1_050));
      expect(admitted).toBeLessThanOrEqual(1); // 2 at most, the first call's still counted
    } finally {
      await store.close();
    }
  });
});

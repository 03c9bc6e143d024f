// Found by attack review 7: "a call waits for the store at most commandTimeoutMs" (README, When the
// store is down). At most two script calls are in flight per lane; the calls that wait behind them
// must be held to their deadline too, from when they were made, not from when their batch is sent.
// When Redis freezes while many calls are queued, each pair of batches used to wait out its own
// timeout in turn: with 20 batches queued, the last calls waited ten timeouts.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { FixedWindowRateLimit } from '../../src/core/limits.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { redisDescribe } from './redis-available.js';
import { TestRedisServer } from './redis-server.js';

const describeRedis = await redisDescribe('RedisStore: deadline of queued calls', {
  ownServers: true,
});
const quiet = { warn: () => undefined };
const MAX_CALLS = 1_000_000;
const limiterOver = (store: RedisStore) =>
  createRateLimiter({
    name: 'queued',
    limits: [new FixedWindowRateLimit({ maxCalls: MAX_CALLS, perSeconds: 3600 })],
    store,
    logger: quiet,
    onStoreError: 'deny',
  });

describeRedis('RedisStore: calls queued behind a frozen Redis', () => {
  let server: TestRedisServer;
  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort();
  });
  afterAll(async () => {
    server?.signal('SIGCONT');
    await server?.stop();
  });

  test('every call is decided within about commandTimeoutMs, however many are queued; the queued ones never run', async () => {
    const TIMEOUT_MS = 300;
    const store = RedisStore.fromUrl(server.url, { commandTimeoutMs: TIMEOUT_MS });
    const counting = RedisStore.fromUrl(server.url);
    try {
      const limiter = limiterOver(store);
      expect((await limiter.consume('user:warm-up')).allowed).toBe(true);

      server.signal('SIGSTOP');
      const started = performance.now();
      const settledAfter: number[] = [];
      const decisions = await Promise.all(
        Array.from({ length: 2560 }, (_, index) =>
          limiter.consume(`user:${index % 10}`).then((decision) => {
            settledAfter.push(performance.now() - started);
            return decision;
          }),
        ),
      );
      server.signal('SIGCONT');
      expect(decisions.every((decision) => !decision.allowed)).toBe(true);
      // The last call is decided about when the first ones are: a deadline plus the watchdog's
      // granularity (a quarter of it), not ten deadlines one after the other (the calls of 20
      // batches, two in flight at a time). Measured from the first decision rather than from the
      // start, so that a loaded machine's stall before the first one (seen: 1 s at load 10 on
      // 2 cores) does not count.
      const spread = Math.max(...settledAfter) - Math.min(...settledAfter);
      expect(spread).toBeLessThan(2 * TIMEOUT_MS);

      // Only the two script calls that were in flight (256 calls) may still have run once Redis
      // woke up: the queued ones were failed, never sent later behind the policy's back.
      // (Counted through another store: this one's policy still stands in for Redis a moment.)
      await new Promise((resolve) => setTimeout(resolve, 500));
      const counter = limiterOver(counting);
      let ran = 0;
      for (let subject = 0; subject < 10; subject++) {
        ran += MAX_CALLS - ((await counter.peek(`user:${subject}`)).results[0].remaining ?? 0);
      }
      expect(ran).toBeLessThanOrEqual(256);
    } finally {
      server.signal('SIGCONT');
      await store.close();
      await counting.close();
    }
  });
});

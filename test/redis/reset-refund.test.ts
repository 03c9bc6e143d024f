// Attack review (attack3): "a refund after a reset gives nothing back to the built-in limits"
// (README, createRateLimiter), with two instances on the shared Redis: the reset is made on one,
// the refund of a call admitted before it on the other.
import { expect, test } from '@jest/globals';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { FixedWindowRateLimit } from '../../src/core/limits.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { REDIS_URL, redisDescribe } from './redis-available.js';

const describeRedis = await redisDescribe('refund after a reset, two instances');

describeRedis('refund after a reset, two instances', () => {
  // DEFECT (attack3): the engine knows of a reset only through its own in-process counter
  // (`RateLimitEngine.resets`), so a reset made by another instance (an admin call to another
  // replica, McpRateLimitService.reset) is unknown to the instance that refunds: its refund
  // (refundWhen, limiter.refund) of a call admitted before the reset takes a unit off the fresh
  // count, and the subject gets limit + 1 calls. Fixed window, token bucket and GCRA; the sliding
  // window is spared (its refund removes entries stamped with the call's own time).
  test('a refund on one instance of a call admitted before a reset on another gives nothing back', async () => {
    const stores = [RedisStore.fromUrl(REDIS_URL), RedisStore.fromUrl(REDIS_URL)];
    try {
      // A name of its own per run: the Redis counters outlive the test.
      const name = `reset-refund-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
      const [admin, worker] = stores.map((store) =>
        createRateLimiter({
          name,
          limits: [new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 3600 })],
          store,
        }),
      );
      const subject = 'customer:42';
      const inFlight = await worker.consume(subject);
      expect(inFlight.allowed).toBe(true);
      await admin.reset(subject); // a support reset on another instance
      let admitted = 0;
      for (let call = 0; call < 3; call++) if ((await admin.consume(subject)).allowed) admitted++;
      await worker.refund(inFlight); // the work of the call admitted before the reset failed
      if ((await worker.consume(subject)).allowed) admitted++;
      // 3 per hour since the reset.
      expect(admitted).toBe(3);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });
});

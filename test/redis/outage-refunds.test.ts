// Found by attack review 7: what the outage policy does with a refund or a release that crosses a
// blip of one instance's Redis connection (a TCP proxy cut, then healed).
// - A call the policy admitted while Redis was unreachable was never counted by Redis. Its refund
//   was kept from Redis only while the store still counted as down: once Redis answered again, the
//   same refund gave Redis back a unit it never counted (a fixed window's count, a token bucket's
//   tokens, a GCRA arrival time), fresh quota for every instance on the shared Redis.
// - A ConcurrencyLimit release that Redis could not take during the outage was dropped: the lease
//   stayed in Redis until it expired (leaseSeconds) and locked its user out after the recovery,
//   though nothing of theirs ran.
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { createRateLimiter, type RateLimiter } from '../../src/core/create-rate-limiter.js';
import {
  ConcurrencyLimit,
  FixedWindowRateLimit,
  GcraRateLimit,
  TokenBucketRateLimit,
  type BuiltInRateLimit,
} from '../../src/core/limits.js';
import { ResilientStore } from '../../src/core/stores/insurance.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { redisDescribe } from './redis-available.js';
import { TestRedisServer } from './redis-server.js';
import { TcpProxy } from './tcp-proxy.js';

const describeRedis = await redisDescribe('outage policy: refunds and releases across a blip', {
  ownServers: true,
});
const quiet = { warn: () => undefined };
const LONG = 365 * 24 * 3600;

async function until(condition: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describeRedis('the outage policy: refunds and releases across a blip of Redis', () => {
  let server: TestRedisServer;
  let proxy: TcpProxy;
  let viaProxy: RedisStore; // the connection of instance A, whose path to Redis blips
  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort();
  });
  beforeEach(async () => {
    proxy = new TcpProxy(server.port);
    await proxy.start();
    viaProxy = RedisStore.fromUrl(proxy.url, { commandTimeoutMs: 300 });
  });
  afterEach(async () => {
    await viaProxy.close();
    await proxy.stop();
  });
  afterAll(async () => {
    await server?.stop();
  });

  const LIMITS: [string, () => BuiltInRateLimit][] = [
    ['fixed window', () => new FixedWindowRateLimit({ maxCalls: 3, perSeconds: LONG })],
    ['token bucket', () => new TokenBucketRateLimit({ capacity: 3, refillPerSecond: 3 / LONG })],
    ['GCRA', () => new GcraRateLimit({ ratePerSecond: 3 / LONG, burst: 3 })],
  ];

  test.each(LIMITS)(
    '%s: a call the policy admitted, refunded after the recovery, gives Redis nothing back',
    async (label, makeLimit) => {
      const direct = RedisStore.fromUrl(server.url, { commandTimeoutMs: 300 });
      try {
        const name = `refund-after-recovery-${label}`;
        const make = (store: RedisStore): RateLimiter =>
          createRateLimiter({
            name,
            limits: [makeLimit()],
            store,
            logger: quiet,
            retryIntervalMs: 50,
          });
        const a = make(viaProxy);
        const b = make(direct); // instance B, whose path to Redis holds
        const resilientA = a.engine.store as ResilientStore;
        const subject = 'user:mallory';
        expect((await a.consume('user:warm-up')).allowed).toBe(true);

        // A's connection drops: the policy (insurance) admits a call of A's that Redis never sees.
        proxy.cut();
        // (cost 2: a token bucket or GCRA refund gives back what the call still holds, a little less
        // than its cost once time has passed.)
        const duringOutage = await a.consume(subject, { cost: 2 });
        expect(duringOutage.allowed).toBe(true);
        expect(resilientA.degraded).toBe(true);

        // A's connection comes back; A uses Redis again.
        proxy.heal();
        await until(async () => {
          await a.consume('user:probe');
          return !resilientA.degraded;
        });

        // B uses up the subject's 3 in Redis.
        for (let call = 0; call < 3; call++) expect((await b.consume(subject)).allowed).toBe(true);

        // The call admitted during the outage fails and is refunded (refundWhen: outcome.failed).
        await a.refund(duringOutage);

        // Redis counted 3 of 3: nobody may be admitted now, on either instance.
        expect((await a.consume(subject)).allowed).toBe(false);
        expect((await b.consume(subject)).allowed).toBe(false);
      } finally {
        await direct.close();
      }
    },
  );

  test('the slot of a call that ended during the outage is free once Redis answers again', async () => {
    const limiter = createRateLimiter({
      name: 'release-outage',
      limits: [new ConcurrencyLimit({ maxConcurrent: 1, leaseSeconds: 600 })],
      store: viaProxy,
      logger: quiet,
      retryIntervalMs: 50,
    });
    const resilient = limiter.engine.store as ResilientStore;

    // A long call, admitted by Redis.
    const call = await limiter.consume('user:alice');
    expect(call.allowed).toBe(true);

    // Redis becomes unreachable; the instance notices (another user's call).
    proxy.cut();
    await (await limiter.consume('user:bob')).release();
    expect(resilient.degraded).toBe(true);

    // The long call ends during the outage: Redis cannot take its release.
    await call.release();

    // Redis is back.
    proxy.heal();
    await until(async () => {
      await (await limiter.consume('user:probe')).release();
      return !resilient.degraded;
    });

    // Nothing of alice's runs: she may start a call (once the release has been sent again).
    await until(async () => {
      const next = await limiter.consume('user:alice');
      await next.release();
      return next.allowed;
    }, 2_000);
  });
});

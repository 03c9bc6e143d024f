import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createClient } from 'redis';
import { REDIS_URL, redisDescribe } from './redis-available.js';
import { compileCore, removeCore, Worker, type BurstResult } from './workers.js';

const describeRedis = await redisDescribe('RedisStore: exact across processes');

const PROCESSES = 4;
const CALLS_PER_PROCESS = 500;
const LIMIT = 100;
const LONG = 365 * 24 * 3600; // seconds: no window boundary and no refill to speak of during the test
const prefix = `exact:${process.pid}:${Date.now()}:`;

// Each limiter: one limit of 100 (and, for the two-limit call, a second, looser one).
const limiterSpecs = [
  {
    name: 'fixed-window',
    limits: [{ kind: 'FixedWindowRateLimit', options: { maxCalls: LIMIT, perSeconds: LONG } }],
  },
  {
    name: 'sliding-window',
    limits: [{ kind: 'SlidingWindowRateLimit', options: { maxCalls: LIMIT, perSeconds: LONG } }],
  },
  {
    name: 'token-bucket',
    limits: [{ kind: 'TokenBucketRateLimit', options: { capacity: LIMIT, refillPerSecond: 1e-6 } }],
  },
  {
    name: 'gcra',
    limits: [{ kind: 'GcraRateLimit', options: { ratePerSecond: 1e-6, burst: LIMIT } }],
  },
  {
    name: 'two-limits',
    limits: [
      { kind: 'SlidingWindowRateLimit', options: { maxCalls: LIMIT + 50, perSeconds: LONG } },
      { kind: 'FixedWindowRateLimit', options: { maxCalls: LIMIT, perSeconds: LONG } },
    ],
  },
].map((spec) => ({ ...spec, prefix, onStoreError: 'deny' }));

describeRedis(
  `RedisStore: ${PROCESSES} processes × ${CALLS_PER_PROCESS} concurrent calls at a limit of ${LIMIT}`,
  () => {
    let coreDir: string;
    const workers: Worker[] = [];

    beforeAll(async () => {
      coreDir = compileCore();
      for (let index = 0; index < PROCESSES; index++) {
        const worker = new Worker();
        workers.push(worker);
        // Half the processes use node-redis, half ioredis: both clients share the same keys.
        const library = index % 2 === 0 ? 'redis' : 'ioredis';
        await worker.call('init', {
          coreDir,
          url: REDIS_URL,
          library,
          ownClient: false,
          limiterSpecs,
        });
      }
    });

    afterAll(async () => {
      const codes = await Promise.all(workers.map((worker) => worker.close()));
      workers.forEach((worker) => worker.kill());
      if (coreDir !== undefined) removeCore(coreDir);
      expect(codes).toEqual(workers.map(() => 0));
    });

    test.each(limiterSpecs.map((spec) => spec.name))(
      '%s: exactly 100 admitted in total',
      async (name) => {
        const subject = `user:${name}-${Math.random().toString(36).slice(2)}`;
        const results = await Promise.all(
          workers.map((worker) =>
            worker.call<BurstResult>('burst', { limiter: name, subject, calls: CALLS_PER_PROCESS }),
          ),
        );
        for (const result of results) {
          expect(result.unhandled).toEqual([]);
          expect(result.storeErrors).toBe(0);
          expect(result.degraded).toBe(false);
        }
        const admitted = results.reduce((sum, result) => sum + result.admitted, 0);
        const denied = results.reduce((sum, result) => sum + result.denied, 0);
        expect({ admitted, denied }).toEqual({
          admitted: LIMIT,
          denied: PROCESSES * CALLS_PER_PROCESS - LIMIT,
        });

        if (name === 'two-limits') {
          // All-or-nothing: the looser sliding window counted exactly the admitted calls, not the denied.
          const client = createClient({ url: REDIS_URL });
          await client.connect();
          try {
            const keys: string[] = [];
            for await (const batch of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 }))
              keys.push(...batch);
            const ours = keys.filter((key) => key.includes(subject));
            const slidingKey = ours.find((key) => key.includes('sw:'));
            expect(slidingKey).toBeDefined();
            expect(await client.lLen(slidingKey as string)).toBe(LIMIT);
          } finally {
            await client.close();
          }
        }
      },
    );
  },
);

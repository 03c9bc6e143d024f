import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { redisDescribe } from './redis-available.js';
import { TestRedisServer } from './redis-server.js';
import { compileCore, removeCore, Worker, type BurstResult, type WorkerHealth } from './workers.js';

const describeRedis = await redisDescribe('RedisStore: Redis killed under load and restarted', {
  ownServers: true,
});

const LIMIT = 100;
const CALLS = 500;
const LONG = 3600;

// Three ways to hold the connection: the store's own (URL, node-redis), and a user's node-redis or
// ioredis client with their default settings (offline queue on, reconnecting by themselves).
const SETUPS = [
  { label: 'RedisStore.fromUrl (node-redis)', library: 'redis', ownClient: true },
  { label: 'user node-redis client', library: 'redis', ownClient: false },
  { label: 'user ioredis client', library: 'ioredis', ownClient: false },
] as const;

const prefix = `outage:${process.pid}:`;
const fixedWindow = {
  kind: 'FixedWindowRateLimit',
  options: { maxCalls: LIMIT, perSeconds: LONG },
};
const limiterSpecs = [
  // Background load: never limited while Redis answers, denied (retryAfter 1 s) while it does not.
  {
    name: 'load',
    onStoreError: 'deny',
    limits: [{ kind: 'FixedWindowRateLimit', options: { maxCalls: 1e9, perSeconds: LONG } }],
  },
  { name: 'deny', onStoreError: 'deny', limits: [fixedWindow] },
  { name: 'insurance', onStoreError: 'insurance', limits: [fixedWindow] },
].map((spec) => ({ ...spec, prefix, retryIntervalMs: 100 }));

function subject(label: string): string {
  return `user:${label}-${Math.random().toString(36).slice(2)}`;
}

function expectHealthy(results: readonly WorkerHealth[]): void {
  for (const result of results) expect(result.unhandled).toEqual([]);
}

describeRedis('RedisStore: Redis killed under load, frozen, and restarted', () => {
  let server: TestRedisServer;
  let coreDir: string;
  const workers: Worker[] = [];

  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort();
    coreDir = compileCore();
    for (const setup of SETUPS) {
      const worker = new Worker();
      workers.push(worker);
      await worker.call('init', {
        coreDir,
        url: server.url,
        library: setup.library,
        ownClient: setup.ownClient,
        commandTimeoutMs: 300,
        limiterSpecs,
      });
    }
    // Until each process has reached Redis once, a slow first connection could already count as an
    // outage (and the insurance would admit its own 100).
    await Promise.all(
      workers.map((worker) =>
        worker.call('waitRecovered', { limiter: 'insurance', subject: subject('warm-up') }),
      ),
    );
  });

  afterAll(async () => {
    await server?.stop();
    workers.forEach((worker) => worker.kill());
    if (coreDir !== undefined) removeCore(coreDir);
  });

  const burstAll = (limiter: string, label: string, calls = CALLS): Promise<BurstResult[]> => {
    const shared = subject(label);
    return Promise.all(
      workers.map((worker) =>
        worker.call<BurstResult>('burst', { limiter, subject: shared, calls }),
      ),
    );
  };
  const admittedIn = (results: readonly BurstResult[]): number[] =>
    results.map((result) => result.admitted);
  const total = (results: readonly BurstResult[]): number =>
    results.reduce((sum, result) => sum + result.admitted, 0);

  test('exact before, policy during the outage, exact again after; no crash, no unhandled rejection', async () => {
    // Before: one Redis for the three processes, exactly 100 in total.
    const before = await burstAll('insurance', 'before');
    expect(total(before)).toBe(LIMIT);
    expectHealthy(before);

    // Kill Redis while every process is under load.
    const loadSubject = subject('load');
    await Promise.all(
      workers.map((worker) =>
        worker.call('loadStart', { limiter: 'load', subject: loadSubject, concurrency: 10 }),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    await server.kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 400));

    // During the outage: `insurance` enforces the limit in each process on its own; `deny` denies.
    const insured = await burstAll('insurance', 'during');
    expect(admittedIn(insured)).toEqual(workers.map(() => LIMIT));
    expect(insured.every((result) => result.degraded)).toBe(true);
    const denied = await burstAll('deny', 'during-deny');
    expect(admittedIn(denied)).toEqual(workers.map(() => 0));
    expect(denied.map((result) => result.retryAfters)).toEqual(workers.map(() => [1]));
    expectHealthy([...insured, ...denied]);

    // Restart Redis (empty, without the script): each store is used again once it answers.
    await server.start();
    await Promise.all(
      workers.map((worker) =>
        worker.call('waitRecovered', { limiter: 'insurance', subject: subject('probe') }),
      ),
    );
    const load = await Promise.all(workers.map((worker) => worker.call<BurstResult>('loadStop')));
    for (const result of load) {
      expect(result.admitted).toBeGreaterThan(0);
      expect(result.denied).toBeGreaterThan(0); // the outage was seen by the load...
      expect(result.retryAfters).toEqual([1]); // ...and decided by the deny policy
    }

    // After: exact across processes again, from Redis.
    const after = await burstAll('insurance', 'after');
    expect(total(after)).toBe(LIMIT);
    expect(after.every((result) => !result.degraded)).toBe(true);
    expectHealthy([...load, ...after]);
    for (const result of after) {
      expect(result.storeErrors).toBeGreaterThan(0);
      // The outage is logged once per interval per limiter, not once per failed call.
      expect(
        result.warnings.filter((warning) => warning.includes('unavailable')).length,
      ).toBeLessThanOrEqual(3);
      expect(result.storeErrors).toBeGreaterThan(3);
    }
  });

  test('a frozen Redis (SIGSTOP) cannot hang calls: the timeout hands them to the policy', async () => {
    server.signal('SIGSTOP');
    try {
      // These calls settle while Redis is still frozen: if any waited for Redis, this would block
      // until the test timeout.
      const frozen = await burstAll('deny', 'frozen', 50);
      expect(admittedIn(frozen)).toEqual(workers.map(() => 0));
      expect(frozen.map((result) => result.retryAfters)).toEqual(workers.map(() => [1]));
      expectHealthy(frozen);
    } finally {
      server.signal('SIGCONT');
    }
    await Promise.all(
      workers.map((worker) =>
        worker.call('waitRecovered', { limiter: 'insurance', subject: subject('probe') }),
      ),
    );
    const after = await burstAll('insurance', 'after-freeze');
    expect(total(after)).toBe(LIMIT);
    expectHealthy(after);

    const codes = await Promise.all(workers.map((worker) => worker.close()));
    expect(codes).toEqual(workers.map(() => 0));
  });
});

// A CacheManagerStore write that the store gave up on (operationTimeoutMs) may still land. Landing
// after later calls of the same key were decided and written, it put the key back to the state of
// its own call: every call admitted in between was erased from the shared count, a fresh allowance
// for every instance sharing the cache.
import { expect, it } from '@jest/globals';
import {
  CacheManagerStore,
  FixedWindowRateLimit,
  StoreTimeoutError,
  type CacheLike,
  type LimitCheck,
} from '../../src/index.js';

it('a late write never rolls back the calls decided after it timed out', async () => {
  const map = new Map<string, unknown>();
  let stall: Promise<void> | undefined;
  const cache: CacheLike = {
    get: <T>(key: string) => Promise.resolve(map.get(key) as T | undefined),
    set: async (key: string, value: unknown) => {
      const wait = stall;
      if (wait !== undefined) await wait;
      map.set(key, value);
    },
  };
  const store = new CacheManagerStore(cache, { operationTimeoutMs: 20, clock: () => 1_000 });
  const limit = new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 3600 });
  const check: LimitCheck = { key: 'k', limit, cost: 1 };

  let land!: () => void;
  stall = new Promise<void>((resolve) => (land = resolve));
  await expect(store.evaluate([check])).rejects.toBeInstanceOf(StoreTimeoutError);
  stall = undefined;

  // Later calls, decided by the cache while the first write is still on its way.
  const later: boolean[] = [];
  for (let index = 0; index < 3; index++) {
    later.push(
      await store.evaluate([check]).then(
        ([outcome]) => outcome.allowed,
        () => 'outage' as never,
      ),
    );
  }
  land();
  await new Promise((resolve) => setTimeout(resolve, 10));

  // Whatever was decided, the cache's count is at least what it admitted since.
  const admittedLater = later.filter((allowed) => allowed === true).length;
  const count = (map.get('k') as { count: number } | undefined)?.count ?? 0;
  expect(count).toBeGreaterThanOrEqual(admittedLater);
  // Once the write has landed, the key is read again, from the state it left.
  const [next] = await store.evaluate([check]);
  expect(next.allowed).toBe(true);
  expect((map.get('k') as { count: number }).count).toBe(count + 1);
});

it('a late refund write never rolls back the calls decided after it timed out', async () => {
  const map = new Map<string, unknown>();
  let stall: Promise<void> | undefined;
  const cache: CacheLike = {
    get: <T>(key: string) => Promise.resolve(map.get(key) as T | undefined),
    set: async (key: string, value: unknown) => {
      const wait = stall;
      if (wait !== undefined) await wait;
      map.set(key, value);
    },
  };
  const store = new CacheManagerStore(cache, { operationTimeoutMs: 20, clock: () => 1_000 });
  const limit = new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 3600 });
  const check: LimitCheck = { key: 'k', limit, cost: 1 };
  for (let index = 0; index < 3; index++) await store.evaluate([check]);

  let land!: () => void;
  stall = new Promise<void>((resolve) => (land = resolve));
  await expect(store.refund([{ ...check, admittedAtMs: 1_000 }])).rejects.toThrow();
  stall = undefined;
  let admittedLater = 0;
  for (let index = 0; index < 2; index++) {
    const allowed = await store.evaluate([check]).then(
      ([outcome]) => outcome.allowed,
      () => false,
    );
    if (allowed) admittedLater++;
  }
  land();
  await new Promise((resolve) => setTimeout(resolve, 10));
  // 3 calls, one refunded: at least 2 plus what was admitted since.
  expect((map.get('k') as { count: number }).count).toBeGreaterThanOrEqual(2 + admittedLater);
});

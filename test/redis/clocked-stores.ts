// Both twins with an injected clock, for tests that move time: the MemoryStore (the TypeScript
// algorithms) and a RedisStore (their Lua twins) on a private Redis server.
import { afterAll, beforeAll } from '@jest/globals';
import { createClient } from 'redis';
import { MemoryStore } from '../../src/core/stores/memory-store.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import type { RateLimitStore } from '../../src/core/stores/store.js';
import { TestRedisServer } from './redis-server.js';

export type ClockedStore = RateLimitStore & { close(): unknown };

/**
 * `[name, (clock) => store]` for each twin, for `test.each`. Call it inside a `describe`: it starts
 * the Redis server before the suite's tests and stops it after them.
 */
export function clockedStores(): [string, (clock: () => number) => ClockedStore][] {
  let server: TestRedisServer;
  let client: ReturnType<typeof createClient>;
  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort();
    client = createClient({ url: server.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.quit();
    await server?.stop();
  });
  return [
    ['MemoryStore', (clock) => new MemoryStore({ clock })],
    ['RedisStore', (clock) => new RedisStore({ client, clock, extraTtlMs: 3_600_000 })],
  ];
}

import { RedisStore } from '../../src/core/stores/redis-store.js';
import { describeConformance } from '../conformance/conformance.js';
import { CLIENT_LIBRARIES, connectClient, type TestClient } from './clients.js';
import { REDIS_URL, redisDescribe } from './redis-available.js';

// The core's scenario table, unchanged, against RedisStore over each client library.
const describeRedis = await redisDescribe('conformance: RedisStore');

describeRedis('RedisStore', () => {
  for (const library of CLIENT_LIBRARIES) {
    let connection: TestClient | undefined;
    describeConformance({
      name: `RedisStore (${library})`,
      open: async () => {
        connection = await connectClient(library, REDIS_URL);
      },
      // The scenarios' clock jumps ahead of real time; extraTtlMs keeps Redis from expiring a key
      // (on its own clock) before the scenario is done with it.
      create: (clock) =>
        new RedisStore({ client: (connection as TestClient).client, clock, extraTtlMs: 60_000 }),
      close: () => connection?.quit(),
    });
  }
});

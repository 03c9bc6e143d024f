// Attack review (attack3): a Redis user that may run scripts but not touch the store's keys (an ACL
// key pattern of another app: `~app:*`). A private redis-server, a real socket.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { FixedWindowRateLimit } from '../../src/core/limits.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { redisDescribe } from './redis-available.js';
import { TestRedisServer } from './redis-server.js';

const describeRedis = await redisDescribe('RedisStore for a user whose ACL excludes its keys', {
  ownServers: true,
});

describeRedis('RedisStore for a user whose ACL excludes its keys', () => {
  let server: TestRedisServer;

  beforeAll(async () => {
    server = await TestRedisServer.startOnFreePort([
      '--user',
      'app',
      'on',
      'nopass',
      '~app:*',
      '+@all',
    ]);
  });
  afterAll(async () => {
    await server?.stop();
  });

  // Found by an attack review: every NOPERM was taken for a refusal of scripts, so a user who may
  // run EVALSHA but not access the keys (`NOPERM this user has no permissions to access one of
  // the keys used as arguments`) was told to "enable scripting": the wrong cause and the wrong
  // fix. The fix is a key pattern that covers the store's prefix (`~mcprl:*`).
  test('the error names the keys the user may not access, not scripting', async () => {
    const store = RedisStore.fromUrl(server.url.replace('redis://', 'redis://app:x@'));
    try {
      const error = (await store
        .evaluate([
          {
            key: 'mcprl:{a}k',
            limit: new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 }),
            cost: 1,
          },
        ])
        .then(
          () => undefined,
          (reason: unknown) => reason,
        )) as Error;
      expect(error).toBeInstanceOf(Error);
      expect(error.message).not.toMatch(/refuses Lua scripts|enable scripting/);
      expect(error.message).toMatch(/key/i);
    } finally {
      await store.close();
    }
  });
});

// `app.close()` closes the connection of a store that owns it (found by attack review 9).
// The README's Redis section offers `store: RedisStore.fromUrl(url)` in forRootAsync's useFactory
// (where the user keeps no reference to the store). Such a store creates and owns its connection
// ("close it with close()"), but the module never closes the store it was given: after
// `app.close()` the connection stays, so a test suite, a CLI built on the app, or any process that
// closes its app and expects to exit hangs (Node keeps running for the open socket), and an app
// created and closed repeatedly in one process leaks a Redis connection each time.
import 'reflect-metadata';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { Controller, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { RateLimitStore } from '../../src/core/stores/store.js';
import {
  FixedWindowRateLimit,
  McpRateLimitModule,
  RateLimit,
  RedisStore,
} from '../../src/index.js';
import { connectNodeRedis } from './clients.js';
import { redisDescribe } from './redis-available.js';
import { TestRedisServer } from './redis-server.js';

const describeRedis = await redisDescribe('module closes an owned store', { ownServers: true });

@Controller('rpc')
class RpcController {
  @Post()
  @HttpCode(200)
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 60 }))
  handle() {
    return { jsonrpc: '2.0', id: 1, result: {} };
  }
}

describeRedis('McpRateLimitModule closes the Redis connection its store owns', () => {
  let redis: TestRedisServer;
  const stores: RedisStore[] = [];
  beforeAll(async () => {
    redis = await TestRedisServer.startOnFreePort();
  });
  afterAll(async () => {
    // So that this file ends either way (the assertions are about the module, not this cleanup).
    for (const store of stores) await store.close();
    await redis?.stop();
  });

  /** Clients connected to the private Redis server, besides redis-cli itself. */
  async function connectedClients(): Promise<number> {
    const list = await redis.cli('CLIENT', 'LIST');
    return list.split('\n').filter((line) => line.includes('id=') && !line.includes('cmd=client'))
      .length;
  }

  /** Starts an app whose module gets `makeStore()` from forRootAsync, makes one call, closes it. */
  async function runAppWith(makeStore: () => RateLimitStore): Promise<void> {
    @Module({
      imports: [McpRateLimitModule.forRootAsync({ useFactory: () => ({ store: makeStore() }) })],
      controllers: [RpcController],
    })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    const response = await fetch(`${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/rpc`, {
      method: 'POST',
      headers: { connection: 'close' },
    });
    expect(response.status).toBe(200);
    expect(await connectedClients()).toBe(1);
    await app.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  test('closing the app closes the connection of a RedisStore.fromUrl store', async () => {
    await runAppWith(() => {
      const store = RedisStore.fromUrl(redis.url);
      stores.push(store);
      return store;
    });
    expect(await connectedClients()).toBe(0);
  });

  test("closing the app leaves the app's own client open", async () => {
    const client = await connectNodeRedis(redis.url);
    try {
      await runAppWith(() => new RedisStore({ client }));
      expect(client.isOpen).toBe(true);
      expect(await client.ping()).toBe('PONG');
      expect(await connectedClients()).toBe(1);
    } finally {
      client.destroy();
    }
  });
});

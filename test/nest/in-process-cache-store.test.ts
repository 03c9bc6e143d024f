// The store the module picks when the app's cache lives in this process (found by attack review 7).
// `CacheModule.register()` keeps its entries in Keyv's default Map, which drops an expired entry
// only when it is read again: limit state kept there stays in memory for every subject ever seen,
// so a client that rotates subjects (addresses, accounts, API keys) grows the server's memory
// without bound. The module uses its own MemoryStore for such a cache, which drops expired states.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { CACHE_MANAGER, CacheModule } from '@nestjs/cache-manager';
import { Controller, HttpCode, Module, Post, type INestApplication } from '@nestjs/common';
import {
  FixedWindowRateLimit,
  McpRateLimitModule,
  McpRateLimitService,
  MemoryStore,
  RateLimit,
} from '../../src/index.js';
import { serveHttp, subjectByApiKey } from '../fixtures/http-app.js';

jest.setTimeout(60_000);

@Controller('rpc')
class RpcController {
  @Post()
  @HttpCode(200)
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 1 }))
  handle() {
    return { jsonrpc: '2.0', id: 1, result: {} };
  }
}

@Module({
  imports: [
    CacheModule.register({ isGlobal: true }),
    McpRateLimitModule.forRoot({
      // A subject per API key, as the README shows.
      resolveSubject: subjectByApiKey,
    }),
  ],
  controllers: [RpcController],
})
class AppModule {}

let app: INestApplication;
let url: string;
beforeAll(async () => {
  ({ app, url } = await serveHttp(AppModule, 'rpc'));
});
afterAll(async () => {
  await app?.close();
});

/** Limit states held in this process: in the app's cache (a Map) and in the module's store. */
function statesHeld(): number {
  const cache = app.get<{ stores: { store: unknown }[] }>(CACHE_MANAGER);
  const map = cache.stores[0].store;
  const inCache = map instanceof Map ? map.size : 0;
  const store = app.get(McpRateLimitService).store;
  if (!(store instanceof MemoryStore)) return inCache;
  // The MemoryStore's key spaces are private: read their sizes for this count only.
  const { spaces, keys } = store as unknown as {
    spaces: Map<string, { size: number }>;
    keys: { size: number };
  };
  let inStore = keys.size;
  for (const space of spaces.values()) inStore += space.size;
  return inCache + inStore;
}

describe('an app cache in process memory (CacheModule.register())', () => {
  test('the states of subjects that are gone leave memory after their windows end', async () => {
    const SUBJECTS = 300;
    for (let index = 0; index < SUBJECTS; index++) {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': `rotating-${index}` },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call' }),
      });
      expect(response.status).toBe(200);
    }
    // Every subject is counted somewhere while its window lasts.
    expect(statesHeld()).toBeGreaterThanOrEqual(SUBJECTS);
    // Every window is 1 s; give a sweep (the MemoryStore's runs every 10 s) time to run.
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    expect(statesHeld()).toBeLessThan(SUBJECTS / 10);
  });
});

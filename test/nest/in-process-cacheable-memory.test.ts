// An LRU cache in this process is no shared store (found by attack review 9).
// The module keeps its own MemoryStore when the app's cache lives in this process, but it only
// recognises Keyv's default Map (`CacheModule.register()`). The in-memory cache Nest's caching
// docs show, `new Keyv({ store: new CacheableMemory({ ttl, lruSize }) })` (cacheable, which
// cache-manager 7 itself depends on), is taken for a shared cache: the limits go to a
// CacheManagerStore over an LRU of `lruSize` entries. A client that calls with enough other
// subjects (API keys, accounts, IPv6 /64s) evicts its own exhausted counter and gets a fresh
// quota: doubt (a missing entry) becomes quota. (With the default onStoreError 'insurance' the
// instance's own outage record happens to deny it; with 'deny' or 'allow' nothing does.)
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { CacheModule } from '@nestjs/cache-manager';
import { Controller, HttpCode, Module, Post, type INestApplication } from '@nestjs/common';
import { CacheableMemory } from 'cacheable';
import { Keyv } from 'keyv';
import {
  FixedWindowRateLimit,
  McpRateLimitModule,
  McpRateLimitService,
  MemoryStore,
  RateLimit,
} from '../../src/index.js';
import { serveHttp, subjectByApiKey } from '../fixtures/http-app.js';

jest.setTimeout(60_000);

const LRU_SIZE = 200;

@Controller('rpc')
class RpcController {
  @Post()
  @HttpCode(200)
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 3600 }))
  handle() {
    return { jsonrpc: '2.0', id: 1, result: {} };
  }
}

@Module({
  imports: [
    CacheModule.register({
      isGlobal: true,
      stores: [new Keyv({ store: new CacheableMemory({ ttl: 3_600_000, lruSize: LRU_SIZE }) })],
    }),
    McpRateLimitModule.forRoot({
      // Fail closed while the store is down (no outage record of this instance's own; the
      // default 'insurance' record happens to catch the eviction below, 'allow' does not either).
      onStoreError: 'deny',
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

async function call(apiKey: string): Promise<boolean> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x' } }),
  });
  const body = (await response.json()) as { error?: unknown };
  return body.error === undefined;
}

describe("the app's cache is a CacheableMemory LRU (Nest's in-memory cache)", () => {
  test("the limits live in the module's own MemoryStore, not in the cache", () => {
    const store = app.get(McpRateLimitService).store;
    expect(store).toBeInstanceOf(MemoryStore);
  });

  test('calling with other subjects never gives an exhausted subject a fresh quota', async () => {
    expect(await call('attacker')).toBe(true);
    expect(await call('attacker')).toBe(false);
    for (let index = 0; index < LRU_SIZE + 10; index++) await call(`throwaway-${index}`);
    // The attacker's counter must still be there: 1 per hour, already used.
    expect(await call('attacker')).toBe(false);
  });
});

// The `store` option over the app's in-process cache (security review: cache store). The module
// keeps its own MemoryStore when the app's cache lives in this process (a CacheableMemory LRU
// would let a client evict its own used-up counter by calling under other subjects, a fresh
// quota), but a CacheManagerStore the app builds over that same cache and passes as `store` was
// taken silently. Bootstrap now warns of it, naming the fix.
import 'reflect-metadata';
import { afterEach, describe, expect, test } from '@jest/globals';
import { CACHE_MANAGER, CacheModule } from '@nestjs/cache-manager';
import {
  Controller,
  Module,
  Post,
  type INestApplication,
  type LoggerService,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CacheableMemory } from 'cacheable';
import { Keyv } from 'keyv';
import {
  CacheManagerStore,
  FixedWindowRateLimit,
  McpRateLimitModule,
  RateLimit,
  type CacheLike,
} from '../../src/index.js';

@Controller('rpc')
class RpcController {
  @Post()
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 3600 }))
  handle() {
    return {};
  }
}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** A Keyv storage adapter as a remote backend's looks: nothing of it lives in a Map here. */
const remoteAdapter = () => ({
  opts: {},
  on: () => undefined,
  get: async () => undefined,
  set: async () => true,
  delete: async () => true,
  clear: async () => undefined,
});

async function bootstrapWarnings(store: unknown): Promise<string[]> {
  const warnings: string[] = [];
  const logger: LoggerService = {
    log: () => undefined,
    error: () => undefined,
    warn: (message: unknown, context?: unknown) => {
      if (context === 'McpRateLimit') warnings.push(String(message));
    },
  };
  @Module({
    imports: [
      CacheModule.register({ isGlobal: true, stores: [new Keyv({ store: store as never })] }),
      McpRateLimitModule.forRootAsync({
        inject: [CACHE_MANAGER],
        useFactory: (cache: CacheLike) => ({ store: new CacheManagerStore(cache) }),
      }),
    ],
    controllers: [RpcController],
  })
  class AppModule {}
  app = await NestFactory.create(AppModule, { logger });
  await app.init();
  return warnings;
}

describe('store: a CacheManagerStore over the app cache', () => {
  test('in process (a CacheableMemory LRU): bootstrap warns, naming the fix', async () => {
    const warnings = await bootstrapWarnings(new CacheableMemory({ lruSize: 200 }));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('CacheManagerStore over a cache in this process');
    expect(warnings[0]).toContain('leave "store" out');
  });

  test('on a backend of its own: no warning', async () => {
    expect(await bootstrapWarnings(remoteAdapter())).toEqual([]);
  });
});

// Found by attack review 9: options a user mistypes were accepted and silently ignored.
// - messageLimit's own fields are never checked for unknown keys: `countedMethod: ['initialize']`
//   (the README tells stateful servers to count initialize, to bound the sessions a caller opens)
//   boots fine and counts nothing, so one caller opens sessions without limit.
// - limitByContext ignores unknown options: `fallBack: 'free'` keeps the default fallback, the
//   first choice declared, so a selector that throws (no user yet, a missing claim) gets the
//   generous choice the author meant to keep from it.
// - RedisStore ignores unknown options: `commandTimeout: 200` (ioredis's own name) keeps 1000 ms.
// - createRateLimiter({ prefix: 5 }) fails with "prefix.indexOf is not a function".
// - createRateLimiter ignores unknown options: `onStoreErorr: 'deny'` keeps the default policy
//   (insurance), so a limiter its author made fail closed fails open-per-instance.
import 'reflect-metadata';
import { describe, expect, test } from '@jest/globals';
import { Controller, Get, Module, Post, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  FixedWindowRateLimit,
  LimitMcpMessages,
  McpRateLimitModule,
  RateLimit,
  RateLimitConfigError,
  RedisStore,
  limitByContext,
  createRateLimiter,
  type McpRateLimitModuleForRootOptions,
} from '../../src/index.js';

async function bootstrap(options: McpRateLimitModuleForRootOptions) {
  @Controller('mcp')
  @LimitMcpMessages()
  class Endpoint {
    @Post()
    handle() {
      return {};
    }
  }
  @Module({ imports: [McpRateLimitModule.forRoot(options)], controllers: [Endpoint] })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
  try {
    await app.init();
  } finally {
    await app.close();
  }
}

// The message names the unknown key in quotes: /"countedMethod"/ would not match the list of the
// known ones ("countedMethods"), so a message that only lists them does not pass.
describe('a mistyped module or limiter option is refused, naming it', () => {
  test('messageLimit: { countedMethod } (for countedMethods)', async () => {
    await expect(
      bootstrap({
        messageLimit: {
          limits: [new FixedWindowRateLimit({ maxCalls: 100, perSeconds: 60 })],
          countedMethod: ['initialize'],
        } as never,
      }),
    ).rejects.toThrow(/messageLimit: unknown option "countedMethod"/);
  });

  test('messageLimit: { excludeMethods } (for excludedMethods)', async () => {
    await expect(
      bootstrap({
        messageLimit: {
          limits: [new FixedWindowRateLimit({ maxCalls: 100, perSeconds: 60 })],
          excludeMethods: ['tools/list'],
        } as never,
      }),
    ).rejects.toThrow(/messageLimit: unknown option "excludeMethods"/);
  });

  test('createRateLimiter({ onStoreErorr }) (for onStoreError)', () => {
    // Any store that does I/O (a custom one here: no connection to open).
    const store = { evaluate: () => Promise.resolve([]) };
    expect(() =>
      createRateLimiter({
        name: 'typo',
        limits: [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 })],
        store,
        onStoreErorr: 'deny',
      } as never),
    ).toThrow(RateLimitConfigError);
    expect(() =>
      createRateLimiter({
        name: 'typo',
        limits: [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 })],
        store,
        onStoreErorr: 'deny',
      } as never),
    ).toThrow(/unknown option "onStoreErorr" \(expected .*onStoreError/);
  });
});

test('limitByContext({ fallBack }) (for fallback)', async () => {
  @Controller('plans')
  class PlanController {
    @Get()
    @RateLimit(
      limitByContext({
        limits: {
          paid: new FixedWindowRateLimit({ maxCalls: 1000, perSeconds: 60 }),
          free: new FixedWindowRateLimit({ maxCalls: 10, perSeconds: 60 }),
        },
        select: () => {
          throw new Error('no plan claim');
        },
        fallBack: 'free',
      } as never),
    )
    list() {
      return [];
    }
  }
  await expect(bootstrapWith(PlanController)).rejects.toThrow(/unknown option "fallBack"/);
});

async function bootstrapWith(controller: Type<unknown>) {
  @Module({ imports: [McpRateLimitModule.forRoot()], controllers: [controller] })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
  try {
    await app.init();
  } finally {
    await app.close();
  }
}

describe('store and limiter options outside the module are checked as well', () => {
  test("RedisStore({ commandTimeout }) (ioredis's name, for commandTimeoutMs)", () => {
    // Not connected: the store connects on first use, and none is made here.
    expect(() =>
      RedisStore.fromUrl('redis://127.0.0.1:6379', { commandTimeout: 200 } as never),
    ).toThrow(/RedisStore: unknown option "commandTimeout" \(expected .*commandTimeoutMs/);
  });

  test('createRateLimiter({ prefix: 5 }) names the option', () => {
    expect(() =>
      createRateLimiter({
        limits: [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 })],
        prefix: 5 as never,
      }),
    ).toThrow(/createRateLimiter: "prefix" must be a string \(got 5\)/);
  });
});

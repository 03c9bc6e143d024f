// The module: forRoot / forRootAsync, where the store comes from, store-error events, and the
// global enhancers with MCP-Nest (with or without inheritAppConfig, the decorators bind the guard).
import 'reflect-metadata';
import { afterEach, describe, expect, test } from '@jest/globals';
import { CacheModule } from '@nestjs/cache-manager';
import {
  Controller,
  HttpCode,
  Injectable,
  Module,
  Post,
  type INestApplication,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { KeyvStoreAdapter } from 'keyv';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { McpController, McpStrategy, StreamableHttpTransport, Tool } from '@rekog/mcp-nest';
import {
  CacheManagerStore,
  FixedWindowRateLimit,
  McpRateLimitGuard,
  McpRateLimitModule,
  McpRateLimitService,
  MemoryStore,
  RateLimit,
  ResilientStore,
  StoreUnavailableError,
  type McpRateLimitModuleOptions,
  type RateLimitEvent,
  type RateLimitStore,
  UseMcpRateLimit,
} from '../../src/index.js';

/**
 * A Keyv storage adapter that is not a Map: to the module, a cache shared with other instances (a
 * database, Memcache...), kept here in a Map behind the adapter's methods.
 */
function sharedCacheStandIn(): KeyvStoreAdapter {
  const entries = new Map<string, unknown>();
  const adapter = {
    opts: {},
    get: (key: string) => Promise.resolve(entries.get(key)),
    set: (key: string, value: unknown) => Promise.resolve(entries.set(key, value) && true),
    delete: (key: string) => Promise.resolve(entries.delete(key)),
    clear: () => Promise.resolve(entries.clear()),
  };
  // Keyv needs these four methods only; the adapter type also names optional events and batches.
  return adapter as unknown as KeyvStoreAdapter;
}

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

@Controller('limited')
class LimitedController {
  @Post()
  @HttpCode(200)
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 }))
  handle() {
    return { ok: true };
  }
}

async function start(imports: unknown[]): Promise<{ app: INestApplication; url: string }> {
  @Module({ imports: imports as Type<unknown>[], controllers: [LimitedController] })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false });
  apps.push(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${port}/limited` };
}

const post = (url: string) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call' }),
  });

describe('McpRateLimitModule', () => {
  test('forRootAsync with useFactory and inject', async () => {
    @Injectable()
    class Settings {
      readonly httpStatus = 429 as const;
    }
    @Module({ providers: [Settings], exports: [Settings] })
    class SettingsModule {}
    const { url } = await start([
      McpRateLimitModule.forRootAsync({
        imports: [SettingsModule],
        inject: [Settings],
        useFactory: (settings: Settings) => ({ httpStatus: settings.httpStatus }),
        registerGlobally: true,
      }),
    ]);
    expect((await post(url)).status).toBe(200);
    const denied = await post(url);
    expect(denied.status).toBe(429);
    expect(await denied.json()).toMatchObject({ id: 7, error: { code: -32005 } });
  });

  test('forRootAsync with useClass', async () => {
    @Injectable()
    class RateLimitConfig {
      createRateLimitOptions(): McpRateLimitModuleOptions {
        return { enabled: false };
      }
    }
    const { url } = await start([
      McpRateLimitModule.forRootAsync({ useClass: RateLimitConfig, registerGlobally: true }),
    ]);
    for (let call = 0; call < 3; call++) expect((await post(url)).status).toBe(200);
  });

  test('without registerGlobally, @RateLimit() is enforced on its own', async () => {
    const { url } = await start([McpRateLimitModule.forRoot()]);
    expect(((await (await post(url)).json()) as { error?: unknown }).error).toBeUndefined();
    expect(await (await post(url)).json()).toMatchObject({ id: 7, error: { code: -32005 } });
  });

  test('@UseMcpRateLimit() applies the guard (decisions, headers) and the filter to one class', async () => {
    @Controller('scoped')
    @UseMcpRateLimit()
    class ScopedController {
      @Post()
      @HttpCode(200)
      @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 }))
      handle() {
        return { ok: true };
      }
    }
    @Module({ imports: [McpRateLimitModule.forRoot({})], controllers: [ScopedController] })
    class ScopedModule {}
    const { url } = await start([ScopedModule]);
    const scoped = url.replace('/limited', '/scoped');
    const first = await post(scoped);
    expect(first.headers.get('ratelimit-policy')).toBe('"fw:1:60000";q=1;w=60');
    const denied = await post(scoped);
    expect(denied.headers.get('retry-after')).not.toBeNull();
    expect(await denied.json()).toMatchObject({ id: 7, error: { code: -32005 } });
    // The app's other, unscoped controller stays unlimited.
    for (let call = 0; call < 3; call++) expect((await post(url)).status).toBe(200);
  });

  // In memory the guard decides synchronously, so Nest awaits nothing per call; a store that
  // answers asynchronously gets a promise. Both deny the same way.
  test.each([
    ['in memory', () => [McpRateLimitModule.forRoot({})], false],
    [
      'on a cache-manager store',
      () => [
        CacheModule.register({ isGlobal: true, stores: [sharedCacheStandIn()] }),
        McpRateLimitModule.forRoot({}),
      ],
      true,
    ],
  ])('the guard answers %s', async (_name, imports, asynchronous) => {
    const { app } = await start(imports());
    const guard = app.get(McpRateLimitGuard);
    const response = { set: () => undefined };
    // A request object per call, as HTTP servers make them (the guard decides each call once).
    const context = () => {
      const request = { headers: {}, body: { jsonrpc: '2.0', id: 1 }, ip: '10.0.0.1' };
      const host = new ExecutionContextHost(
        [request, response],
        LimitedController,
        LimitedController.prototype.handle,
      );
      host.setType('http');
      return host;
    };
    const first = guard.canActivate(context());
    expect(first instanceof Promise).toBe(asynchronous);
    expect(await first).toBe(true);
    const second = (async () => guard.canActivate(context()))();
    await expect(second).rejects.toMatchObject({ data: { retryAfter: expect.any(Number) } });
  });

  test('the store: MemoryStore by default or over an in-process cache, the app cache when it is shared, or the explicit one', async () => {
    const plain = await start([McpRateLimitModule.forRoot({})]);
    expect(plain.app.get(McpRateLimitService).store).toBeInstanceOf(MemoryStore);

    // Keyv's default Map, in this process: the MemoryStore counts the same and drops expired state.
    const inProcess = await start([
      CacheModule.register({ isGlobal: true }),
      McpRateLimitModule.forRoot({}),
    ]);
    expect(inProcess.app.get(McpRateLimitService).store).toBeInstanceOf(MemoryStore);

    const cached = await start([
      CacheModule.register({ isGlobal: true, stores: [sharedCacheStandIn()] }),
      McpRateLimitModule.forRoot({ registerGlobally: true }),
    ]);
    const store = cached.app.get(McpRateLimitService).store;
    expect(store).toBeInstanceOf(ResilientStore);
    expect((store as ResilientStore).primary).toBeInstanceOf(CacheManagerStore);
    // And it limits through the cache.
    expect((await post(cached.url)).status).toBe(200);
    expect(((await (await post(cached.url)).json()) as { error?: unknown }).error).toBeDefined();

    const explicit = new MemoryStore();
    const given = await start([McpRateLimitModule.forRoot({ store: explicit })]);
    expect(given.app.get(McpRateLimitService).store).toBe(explicit);
  });

  test('a failing store: the decision hook hears store-error, the outage policy decides', async () => {
    const events: RateLimitEvent[] = [];
    const broken: RateLimitStore = {
      evaluate: () => Promise.reject(new StoreUnavailableError('connection refused')),
    };
    const { url } = await start([
      McpRateLimitModule.forRoot({
        store: broken,
        onStoreError: 'insurance',
        registerGlobally: true,
        onDecision: (event) => events.push(event),
      }),
    ]);
    expect((await post(url)).status).toBe(200);
    // The insurance MemoryStore holds the same limit of 1 meanwhile.
    const denied = await post(url);
    expect(((await denied.json()) as { error?: { code: number } }).error?.code).toBe(-32005);
    const storeErrors = events.filter((event) => event.type === 'store-error');
    expect(storeErrors.length).toBeGreaterThanOrEqual(1);
    expect(storeErrors[0]).toMatchObject({
      scope: 'handler',
      handler: 'LimitedController.handle',
      subject: 'ip:127.0.0.1',
      method: 'tools/call',
    });
    expect(storeErrors[0].error).toBeInstanceOf(StoreUnavailableError);
    expect(events.map((event) => event.type)).toEqual(
      expect.arrayContaining(['store-error', 'allowed', 'denied']),
    );
  });
});

describe('global enhancers and MCP-Nest', () => {
  @McpController()
  class OneTool {
    @Tool({ name: 'once', description: 'Once a minute' })
    @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 }))
    once() {
      return 'done';
    }
  }

  async function callTwice(inheritAppConfig: boolean): Promise<unknown> {
    @Module({
      imports: [McpRateLimitModule.forRoot({ registerGlobally: true })],
      controllers: [OneTool],
    })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: false });
    apps.push(app);
    const strategy = new McpStrategy({
      name: 'enhancers',
      version: '1.0.0',
      transports: [new StreamableHttpTransport()],
    });
    strategy.setHttpAdapter(app.getHttpAdapter());
    app.connectMicroservice({ strategy }, { inheritAppConfig });
    await app.startAllMicroservices();
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as { port: number };
    const client = new Client({ name: 'enhancers', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)),
    );
    try {
      await client.callTool({ name: 'once', arguments: {} });
      return await client
        .callTool({ name: 'once', arguments: {} })
        .catch((error: unknown) => error);
    } finally {
      await client.close();
    }
  }

  test('with inheritAppConfig: true the global guard reaches the tools', async () => {
    expect(await callTwice(true)).toMatchObject({
      code: -32005,
      data: { retryAfter: expect.any(Number) },
    });
  });

  test('without it, the guard bound by @RateLimit() still reaches the tools', async () => {
    expect(await callTwice(false)).toMatchObject({
      code: -32005,
      data: { retryAfter: expect.any(Number) },
    });
  });
});

// Attack review (attack3): the names that McpRateLimitService's targets and the limits' keys go by.
// A handler's counters are keyed by `Class.method`, and the admin API finds a tool by its MCP name:
// two handlers that share one of those names must not share counters, nor be confused by a peek
// or a reset.
import 'reflect-metadata';
import { afterEach, describe, expect, test } from '@jest/globals';
import {
  Controller,
  HttpCode,
  Module,
  Post,
  type INestApplication,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { McpController, Tool } from '@rekog/mcp-nest';
import {
  FixedWindowRateLimit,
  McpRateLimitModule,
  McpRateLimitService,
  RateLimit,
} from '../../src/index.js';

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function start(controllers: Type<unknown>[][]): Promise<INestApplication> {
  const features = controllers.map((list) => {
    @Module({ controllers: list })
    class FeatureModule {}
    return FeatureModule;
  });
  @Module({ imports: [McpRateLimitModule.forRoot({ isGlobal: true }), ...features] })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
  apps.push(app);
  return app;
}

// Two feature modules that each call their controller `Tools` (or a bundler that minifies class
// names): two different classes, one name.
function billingTools(): Type<unknown> {
  @Controller('billing')
  class Tools {
    @Post()
    @HttpCode(200)
    @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 }))
    handle() {
      return { ok: 'billing' };
    }
  }
  return Tools;
}

function searchTools(): Type<unknown> {
  @Controller('search')
  class Tools {
    @Post()
    @HttpCode(200)
    @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 }))
    handle() {
      return { ok: 'search' };
    }
  }
  return Tools;
}

@McpController({ server: 'billing' })
class BillingServerTools {
  @Tool({ name: 'search', description: 'Search invoices: 1 per minute' })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 }))
  search() {
    return 'invoices';
  }
}

@McpController({ server: 'docs' })
class DocsServerTools {
  @Tool({ name: 'search', description: 'Search the docs: 5 per minute' })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 60 }))
  search() {
    return 'docs';
  }
}

describe('McpRateLimitService targets and handler keys: names shared by two handlers', () => {
  // Found by an attack review: the key scope of a handler is `${type.name}.${methodName}`, so two
  // different classes of the same name (feature modules that both call their controller `Tools`,
  // or minified class names) shared one counter: a call of POST /billing used up POST /search.
  // Bootstrap refuses the ambiguous name now, naming it.
  test('two classes of one name in two modules do not share counters (or bootstrap refuses them)', async () => {
    let app: INestApplication;
    try {
      app = await start([[billingTools()], [searchTools()]]);
      await app.listen(0, '127.0.0.1');
    } catch (error) {
      // A bootstrap that refuses the ambiguous name is a fix too.
      expect(String(error)).toMatch(/Tools\.handle/);
      return;
    }
    const { port } = app.getHttpServer().address() as { port: number };
    const post = (path: string) =>
      fetch(`http://127.0.0.1:${port}/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call' }),
      }).then((response) => response.json() as Promise<Record<string, unknown>>);
    expect(await post('billing')).toEqual({ ok: 'billing' });
    // The first call of another handler: its own limit has all its quota.
    expect(await post('search')).toEqual({ ok: 'search' });
  });

  // Found by an attack review: HandlerDirectory kept one plan per MCP name, so with two MCP-Nest
  // servers of one app that each have a tool `search` (`@McpController({ server })`),
  // `peek({ tool: 'search' })` and `reset({ tool: 'search' })` silently picked the last one
  // scanned. An ambiguous name is an error that names the handlers now; `{ handler }` picks one.
  test('a tool name two servers share is an error naming both handlers, not a silent pick', async () => {
    const both = await start([[BillingServerTools], [DocsServerTools]]);
    await both.init();
    const limits = both.get(McpRateLimitService);
    // Each is found by Class.method.
    expect(
      (await limits.peek({ handler: 'BillingServerTools.search' }, 'user:a')).results[0].quota,
    ).toBe(1);
    expect(
      (await limits.peek({ handler: 'DocsServerTools.search' }, 'user:a')).results[0].quota,
    ).toBe(5);
    await expect(limits.peek({ tool: 'search' }, 'user:a')).rejects.toThrow(
      /BillingServerTools\.search.*DocsServerTools\.search|DocsServerTools\.search.*BillingServerTools\.search/,
    );
    await expect(limits.reset({ tool: 'search' }, 'user:a')).rejects.toThrow(
      /BillingServerTools\.search.*DocsServerTools\.search|DocsServerTools\.search.*BillingServerTools\.search/,
    );
  });

  test('a target whose kind is an Object.prototype member is the clear target error', async () => {
    const app = await start([[BillingServerTools]]);
    await app.init();
    const limits = app.get(McpRateLimitService);
    for (const kind of ['toString', 'constructor', 'hasOwnProperty', '__proto__']) {
      const target = JSON.parse(`{"${kind}":"search"}`) as never;
      await expect(limits.peek(target, 'user:a')).rejects.toThrow(/a target is \{ tool \}/);
      await expect(limits.reset(target, 'user:a')).rejects.toThrow(/a target is \{ tool \}/);
    }
  });
});

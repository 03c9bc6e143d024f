// Found by attack review 12: a method decorator that replaces the method with a wrapper (tracing,
// timing, transactions) and keeps none of its metadata, written between @Tool() and @RateLimit(),
// took the limit away without a word. @RateLimit() had put its limits and its guard on the
// original function; @Tool() then declared the wrapper, which MCP-Nest serves: the app started
// ("limits on 0 tools") and a tool declared 2 per minute ran 4 times out of 4. What must hold: a
// declared limit is enforced or the app does not start. Real MCP-Nest app, official SDK client.
import 'reflect-metadata';
import { afterEach, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport, ProtocolError } from '@modelcontextprotocol/client';
import {
  Controller,
  HttpCode,
  Module,
  Post,
  type INestApplication,
  type Type,
} from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import {
  McpController,
  McpHttpControllerFor,
  StreamableHttpTransport,
  Tool,
} from '@rekog/mcp-nest';
import { z } from 'zod';
import {
  FixedWindowRateLimit,
  McpRateLimitModule,
  RateLimit,
  RateLimitCost,
  TokenBucketRateLimit,
} from '../../src/index.js';
import { serveMcpNest } from '../fixtures/mcp-nest-server.js';

/** A wrapper that keeps none of the method's metadata (a naive timing or tracing decorator). */
function Timed(): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    const original = descriptor.value as (...args: unknown[]) => unknown;
    descriptor.value = function timed(this: unknown, ...args: unknown[]) {
      return original.apply(this, args);
    };
  };
}

/** The same wrapper done right: it copies every metadata key of the method it replaces. */
function TimedKeepingMetadata(): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    const original = descriptor.value as (...args: unknown[]) => unknown;
    const wrapper = function timed(this: unknown, ...args: unknown[]) {
      return original.apply(this, args);
    };
    for (const key of Reflect.getOwnMetadataKeys(original)) {
      Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, original), wrapper);
    }
    descriptor.value = wrapper;
  };
}

let runs = 0;

@McpController()
class WrappedTools {
  @Tool({ name: 'search', description: '2 per hour' })
  @Timed()
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 3600 }))
  search() {
    runs++;
    return 'found';
  }
}

@McpController()
@RateLimit(new TokenBucketRateLimit({ capacity: 10, refillPerSecond: 0.001 }))
class WrappedCost {
  @Tool({
    name: 'export',
    description: 'Costs its pages',
    parameters: z.object({ pages: z.number().int().min(1) }),
  })
  @Timed()
  @RateLimitCost((args: { pages: number }) => args.pages)
  export(@Payload() { pages }: { pages: number }) {
    runs++;
    return `exported ${pages}`;
  }
}

@Controller('rpc')
class WrappedRoute {
  @Post()
  @HttpCode(200)
  @Timed()
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 3600 }))
  handle() {
    runs++;
    return { ok: true };
  }
}

@McpController()
class LimitAboveAndBelow {
  @Tool({ name: 'lookup', description: '2 per hour, and 100 per day' })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 100, perSeconds: 86_400 }))
  @Timed()
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 3600 }))
  lookup() {
    runs++;
    return 'found';
  }
}

@McpController()
class CarefullyWrappedTools {
  @Tool({ name: 'careful_search', description: '2 per hour' })
  @TimedKeepingMetadata()
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 3600 }))
  search() {
    runs++;
    return 'found';
  }
}

let app: INestApplication | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
  runs = 0;
});

async function serve(controller: Type<unknown>): Promise<URL> {
  const transport = new StreamableHttpTransport();
  @Controller('mcp')
  class McpEndpoint extends McpHttpControllerFor(transport) {}
  @Module({ imports: [McpRateLimitModule.forRoot()], controllers: [McpEndpoint, controller] })
  class AppModule {}
  const served = await serveMcpNest(AppModule, transport, 'wrapped', { abortOnError: false });
  app = served.app;
  return served.url;
}

/** What each of `times` calls of `tool` answered: 'ran', or the denial's JSON-RPC code. */
async function callTimes(url: URL, tool: string, args: Record<string, unknown>, times: number) {
  const client = new Client({ name: 'attacker', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(url));
  const answers: (string | number)[] = [];
  try {
    for (let index = 0; index < times; index++) {
      try {
        await client.callTool({ name: tool, arguments: args });
        answers.push('ran');
      } catch (error) {
        answers.push(error instanceof ProtocolError ? error.code : String(error));
      }
    }
  } finally {
    await client.close();
  }
  return answers;
}

describe('a rate-limit declaration on a method a later decorator replaced', () => {
  test('@RateLimit() below a wrapper that drops metadata: bootstrap refuses, naming the method', async () => {
    const started = serve(WrappedTools).then((url) => callTimes(url, 'search', {}, 4));
    await expect(started).rejects.toThrow(
      /WrappedTools\.search: @RateLimit\(\) was applied to a function that a decorator applied after it replaced without its metadata.*Fix:/,
    );
    expect(runs).toBe(0);
  });

  test('@RateLimitCost() below such a wrapper: refused too (every call would cost 1)', async () => {
    const started = serve(WrappedCost).then((url) => callTimes(url, 'export', { pages: 10 }, 3));
    await expect(started).rejects.toThrow(/WrappedCost\.export: @RateLimitCost\(\) was applied/);
    expect(runs).toBe(0);
  });

  test('a second @RateLimit() above the wrapper does not stand for the lost one', async () => {
    const started = serve(LimitAboveAndBelow).then((url) => callTimes(url, 'lookup', {}, 4));
    await expect(started).rejects.toThrow(/LimitAboveAndBelow\.lookup: @RateLimit\(\) was applied/);
    expect(runs).toBe(0);
  });

  test('on a plain HTTP route as well', async () => {
    @Module({ imports: [McpRateLimitModule.forRoot()], controllers: [WrappedRoute] })
    class AppModule {}
    const { NestFactory } = await import('@nestjs/core');
    app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
    await expect(app.init()).rejects.toThrow(/WrappedRoute\.handle: @RateLimit\(\) was applied/);
  });

  test('a wrapper that keeps the metadata keeps the limit: 2 run, the 3rd is denied', async () => {
    const url = await serve(CarefullyWrappedTools);
    expect(await callTimes(url, 'careful_search', {}, 3)).toEqual(['ran', 'ran', -32005]);
  });
});

// The module binds its interceptor only to the limited handlers whose calls it must follow
// (follow-ups.ts): a Nest interceptor costs every call it is bound to. One interceptor serves every
// app of the process, each call carrying its own module.
import 'reflect-metadata';
import { afterEach, describe, expect, test } from '@jest/globals';
import {
  Controller,
  Get,
  type INestApplication,
  Module,
  Post,
  Query,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, Payload } from '@nestjs/microservices';
import { Tool } from '@rekog/mcp-nest';
import {
  ConcurrencyLimit,
  FixedWindowRateLimit,
  limitByContext,
  LimitMcpMessages,
  McpRateLimitInterceptor,
  McpRateLimitModule,
  RateLimit,
  RateLimitOptions,
  type McpRateLimitModuleForRootOptions,
} from '../../src/index.js';

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function start(controller: Type<unknown>, options: McpRateLimitModuleForRootOptions = {}) {
  @Module({ imports: [McpRateLimitModule.forRoot(options)], controllers: [controller] })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
  apps.push(app);
  await app.listen(0, '127.0.0.1');
  return `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
}

/** Whether the module's interceptor is bound to `Class.prototype[method]`. */
function followed(type: Type<unknown>, method: string): boolean {
  const handler = (type.prototype as Record<string, object>)[method];
  const bound = (Reflect.getMetadata('__interceptors__', handler) as unknown[] | undefined) ?? [];
  return bound.some((interceptor) => interceptor instanceof McpRateLimitInterceptor);
}

const limit = () => new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 });

describe('where the interceptor is bound', () => {
  test('handlers declared multiRoundTrip, refundWhen and concurrency limits', async () => {
    @Controller()
    class Tools {
      @Tool({ name: 'payload_only', description: 'x' })
      @RateLimit(limit())
      payloadOnly(@Payload() args: unknown) {
        return args;
      }

      // Reading its MCP context is no declaration: its rounds are charged as new calls.
      @Tool({ name: 'with_context', description: 'x' })
      @RateLimit(limit())
      withContext(@Payload() args: unknown, @Ctx() context: unknown) {
        return [args, context];
      }

      @Tool({ name: 'undecorated', description: 'x' })
      @RateLimit(limit())
      undecorated(args: unknown, context: unknown) {
        return [args, context];
      }

      @Tool({ name: 'declared', description: 'x' })
      @RateLimit(limit())
      @RateLimitOptions({ multiRoundTrip: true })
      declared(@Payload() args: unknown) {
        return args;
      }

      @Tool({ name: 'refunded', description: 'x' })
      @RateLimit(limit())
      @RateLimitOptions({ refundWhen: (outcome) => outcome.failed })
      refunded(@Payload() args: unknown) {
        return args;
      }

      @Tool({ name: 'slots', description: 'x' })
      @RateLimit(new ConcurrencyLimit({ maxConcurrent: 2 }))
      slots(@Payload() args: unknown) {
        return args;
      }

      @Tool({ name: 'chosen_slots', description: 'x' })
      @RateLimit(
        limitByContext({
          limits: { free: new ConcurrencyLimit({ maxConcurrent: 1 }), paid: [limit()] },
          select: () => 'free',
        }),
      )
      chosenSlots(@Payload() args: unknown) {
        return args;
      }

      @Tool({ name: 'unlimited', description: 'x' })
      unlimited(args: unknown, context: unknown) {
        return [args, context];
      }

      // Not an MCP endpoint: it answers no MCP, so no call of it continues a multi round-trip one.
      @Get('route')
      @RateLimit(limit())
      route() {
        return 'ok';
      }

      @Post('endpoint')
      @LimitMcpMessages()
      @RateLimit(limit())
      endpoint() {
        return {};
      }

      @Post('declared-endpoint')
      @LimitMcpMessages()
      @RateLimit(limit())
      @RateLimitOptions({ multiRoundTrip: true })
      declaredEndpoint() {
        return {};
      }
    }
    await start(Tools, { messageLimit: { limits: [limit()] } });
    expect(followed(Tools, 'payloadOnly')).toBe(false);
    expect(followed(Tools, 'withContext')).toBe(false);
    expect(followed(Tools, 'undecorated')).toBe(false);
    expect(followed(Tools, 'declared')).toBe(true);
    expect(followed(Tools, 'refunded')).toBe(true);
    expect(followed(Tools, 'slots')).toBe(true);
    expect(followed(Tools, 'chosenSlots')).toBe(true);
    expect(followed(Tools, 'unlimited')).toBe(false);
    expect(followed(Tools, 'route')).toBe(false);
    expect(followed(Tools, 'endpoint')).toBe(false);
    expect(followed(Tools, 'declaredEndpoint')).toBe(true);
  });

  test('module options: refundWhen follows every limited handler, advertiseLimits every tool', async () => {
    @Controller()
    class RefundTools {
      @Tool({ name: 'payload_only', description: 'x' })
      @RateLimit(limit())
      payloadOnly(@Payload() args: unknown) {
        return args;
      }
    }
    await start(RefundTools, { refundWhen: () => false });
    expect(followed(RefundTools, 'payloadOnly')).toBe(true);

    @Controller()
    class AdvertisedTools {
      @Tool({ name: 'payload_only', description: 'x' })
      @RateLimit(limit())
      payloadOnly(@Payload() args: unknown) {
        return args;
      }
    }
    await start(AdvertisedTools, { advertiseLimits: true });
    expect(followed(AdvertisedTools, 'payloadOnly')).toBe(true);
  });

  test('bound once, however many apps share the handler', async () => {
    @Controller()
    class Shared {
      @Get('x')
      @RateLimit(limit())
      x() {
        return 'ok';
      }
    }
    await start(Shared, { refundWhen: () => false });
    await start(Shared, { refundWhen: () => false });
    const bound = Reflect.getMetadata('__interceptors__', Shared.prototype.x) as unknown[];
    expect(bound.filter((one) => one instanceof McpRateLimitInterceptor)).toHaveLength(1);
  });
});

describe('one interceptor for the process', () => {
  test('two apps on one controller: each call is followed up by the module that decided it', async () => {
    @Controller()
    class Failing {
      @Get('work')
      @RateLimit(limit())
      work(@Query('fail') fail?: string) {
        if (fail !== undefined) throw new Error('downstream failed');
        return 'ok';
      }
    }
    // Both follow the route (refundWhen), each with its own idea of a refund.
    const charging = await start(Failing, { refundWhen: () => false });
    const refunding = await start(Failing, { refundWhen: (outcome) => outcome.failed });
    // Each app: one failed call, then one good one (limit 1 per minute).
    expect((await fetch(`${charging}/work?fail`)).status).toBe(500);
    expect((await fetch(`${refunding}/work?fail`)).status).toBe(500);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the refund settles after the answer
    const refundingAgain = await (await fetch(`${refunding}/work`)).text();
    const chargingAgain = await (await fetch(`${charging}/work`)).json();
    expect(refundingAgain).toBe('ok');
    expect(chargingAgain).toMatchObject({ error: { code: -32005 } });
  });
});

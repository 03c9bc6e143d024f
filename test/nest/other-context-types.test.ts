// Found by attack review 5: a class-level @RateLimit() on a class whose handlers Nest calls in
// another execution context than 'http' or 'rpc' (GraphQL resolvers, WebSocket gateways: both go
// through Nest's ExternalContextCreator, guards included) booted silently and was never enforced:
// the guard returned true for any other context type. Reproduced with Nest's own
// ExternalContextCreator in the 'graphql' context, exactly as @nestjs/graphql invokes a resolver
// (the package is not installed here). What must hold: bootstrap refuses a class-level limit on a
// class with no route, naming it; a limited handler reached in a context the library cannot decide
// is refused with an error naming it (fail closed), never run unlimited.
import 'reflect-metadata';
import { afterEach, describe, expect, test } from '@jest/globals';
import { Controller, Get, Injectable, Module, type INestApplication } from '@nestjs/common';
import { ExternalContextCreator, NestFactory } from '@nestjs/core';
import { FixedWindowRateLimit, McpRateLimitModule, RateLimit } from '../../src/index.js';

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** A resolver: 2 calls per minute for each caller, for all its queries. */
@Injectable()
@RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
class OrdersResolver {
  orders() {
    return ['order-1'];
  }
}

/**
 * A class Nest knows as a provider, as @nestjs/graphql's resolvers are (ExternalContextCreator finds
 * a class's guards through its module's providers), that also has an HTTP route: bootstrap cannot
 * tell that `orders` is called elsewhere, so the guard must refuse it when it is.
 */
@Controller('orders')
@RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
class OrdersController {
  @Get()
  list() {
    return ['order-1'];
  }

  orders() {
    return ['order-1'];
  }
}

/** Calls a method as @nestjs/graphql calls a resolver field: guards, interceptors, filters on. */
function asGraphql(app: INestApplication, instance: object, methodName: string) {
  const creator = app.get(ExternalContextCreator);
  const method = (instance as Record<string, () => unknown>)[methodName];
  return creator.create(
    instance,
    method,
    methodName,
    undefined,
    undefined,
    undefined,
    undefined,
    { guards: true, interceptors: true, filters: true },
    'graphql',
  ) as (...args: unknown[]) => Promise<unknown>;
}

// root, args, context (an HTTP request from one IP), info
const graphqlArgs = [{}, {}, { req: { ip: '203.0.113.7', headers: {} } }, {}];

describe('a class-level @RateLimit() on a handler of another context type', () => {
  test('bootstrap refuses it on a class with no route, naming the class and the fix', async () => {
    @Module({ imports: [McpRateLimitModule.forRoot()], providers: [OrdersResolver] })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
    apps.push(app);
    await expect(app.init()).rejects.toThrow(
      /OrdersResolver: @RateLimit\(\) is on a class none of whose methods Nest routes calls to .*Fix:/,
    );
  });

  test('a call in a context the guard cannot decide is refused, naming the handler', async () => {
    @Module({
      imports: [McpRateLimitModule.forRoot()],
      controllers: [OrdersController],
      providers: [OrdersController],
    })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: false });
    apps.push(app);
    await app.init();
    const handler = asGraphql(app, app.get(OrdersController, { strict: false }), 'orders');
    let ran = 0;
    for (let i = 0; i < 3; i++) {
      await handler(...graphqlArgs).then(
        () => ran++,
        (error: unknown) =>
          expect(String(error)).toMatch(
            /OrdersController\.orders: rate limits are declared on this handler, but Nest calls it in the 'graphql' context, where this library cannot enforce them.*Fix:/,
          ),
      );
    }
    expect(ran).toBe(0);
  });
});

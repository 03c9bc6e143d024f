// A misconfiguration fails application bootstrap with a message naming Class.method and the field,
// never the first request.
import 'reflect-metadata';
import { describe, expect, test } from '@jest/globals';
import { Controller, Get, Inject, Injectable, Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  ConcurrencyLimit,
  FixedWindowRateLimit,
  LimitMcpMessages,
  McpRateLimitModule,
  RateLimit,
  RateLimitCost,
  RateLimitOptions,
  limitByContext,
  type RateLimitStore,
  type McpRateLimitModuleForRootOptions,
  type McpRateLimiter,
} from '../../src/index.js';

const limit = new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 1 });

async function bootstrap(
  controller: Type<unknown>,
  options: McpRateLimitModuleForRootOptions = {},
) {
  @Module({ imports: [McpRateLimitModule.forRoot(options)], controllers: [controller] })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
  try {
    await app.init();
  } finally {
    await app.close();
  }
}

describe('bootstrap validation', () => {
  test('a value that is not a limiter', async () => {
    @Controller()
    class SearchController {
      @Get()
      @RateLimit(limit, { maxCalls: 3 } as never)
      search() {}
    }
    await expect(bootstrap(SearchController)).rejects.toThrow(
      /SearchController\.search: limit #2 must be a built-in limit, an object with consume\(context\), or an injectable limiter class \(got object Object\)/,
    );
  });

  test('@RateLimit() without limits', async () => {
    @Controller()
    class EmptyController {
      @Get()
      @RateLimit()
      list() {}
    }
    await expect(bootstrap(EmptyController)).rejects.toThrow(
      'EmptyController.list: @RateLimit() needs at least one limit',
    );
  });

  test('a bad cost', async () => {
    @Controller()
    class CostController {
      @Get()
      @RateLimit(limit)
      @RateLimitCost(-1)
      spend() {}
    }
    await expect(bootstrap(CostController)).rejects.toThrow(
      /CostController\.spend: @RateLimitCost\(\) "cost" must be a non-negative finite number .*\(got -1\)/,
    );
  });

  test('a limiter class Nest cannot resolve', async () => {
    @Injectable()
    class NeedsMissingRepo implements McpRateLimiter {
      constructor(@Inject('MISSING_REPO') readonly repo: unknown) {}
      consume() {
        return null;
      }
    }
    @Controller()
    class OrgController {
      @Get()
      @RateLimit(NeedsMissingRepo)
      quota() {}
    }
    await expect(bootstrap(OrgController)).rejects.toThrow(
      /OrgController\.quota: limit #1 \(NeedsMissingRepo\) could not be resolved through Nest DI/,
    );
  });

  test('a class that does not implement consume()', async () => {
    @Injectable()
    class NotALimiter {}
    @Controller()
    class WrongController {
      @Get()
      @RateLimit(NotALimiter as never)
      call() {}
    }
    await expect(bootstrap(WrongController)).rejects.toThrow(
      'WrongController.call: limit #1 (NotALimiter) must implement consume(context)',
    );
  });

  test('limitByContext with an unknown fallback', async () => {
    @Controller()
    class TierController {
      @Get()
      @RateLimit(
        limitByContext({ limits: { free: limit }, select: () => 'free', fallback: 'gold' }),
      )
      tier() {}
    }
    await expect(bootstrap(TierController)).rejects.toThrow(
      'TierController.tier: limit #1 (limitByContext): "fallback" must be one of free (got "gold")',
    );
  });

  test('@LimitMcpMessages() without a messageLimit option', async () => {
    @Controller()
    @LimitMcpMessages()
    class EndpointController {
      @Get()
      handle() {}
    }
    await expect(bootstrap(EndpointController)).rejects.toThrow(
      'EndpointController.handle: @LimitMcpMessages() is used but McpRateLimitModule has no "messageLimit" option',
    );
  });

  // Found by attack review 7 (with test/e2e/message-limit-without-endpoint.test.ts): a messageLimit
  // with no @LimitMcpMessages() route counted nothing, and bootstrap said it was on.
  test('a messageLimit option that no route applies', async () => {
    @Controller()
    class EndpointController {
      @Get()
      @RateLimit(limit)
      handle() {}
    }
    await expect(
      bootstrap(EndpointController, { messageLimit: { limits: [limit] } }),
    ).rejects.toThrow(
      'McpRateLimitModule has a "messageLimit" option but no HTTP route is marked @LimitMcpMessages(), so it would count nothing',
    );
    @Controller()
    @LimitMcpMessages()
    class MarkedEndpoint {
      @Get()
      handle() {}
    }
    await expect(
      bootstrap(MarkedEndpoint, { messageLimit: { limits: [limit] } }),
    ).resolves.toBeUndefined();
  });

  // Found by attack review 5 (with test/e2e/message-limit-on-tools.test.ts): the message-level limit
  // counts the JSON-RPC requests POSTed to an HTTP endpoint; anywhere else it would count nothing.
  test('@LimitMcpMessages() on a method or a class without an HTTP route', async () => {
    const messageLimit = { limits: [limit] };
    @Controller()
    class Helpers {
      @LimitMcpMessages()
      compute() {}
    }
    await expect(bootstrap(Helpers, { messageLimit })).rejects.toThrow(
      /Helpers\.compute: @LimitMcpMessages\(\) is on a method that is not an HTTP route, so it would limit nothing: .*Fix: put @LimitMcpMessages\(\) on the MCP endpoint's controller/,
    );
    @Controller()
    @LimitMcpMessages()
    class NoRoutes {
      compute() {}
    }
    await expect(bootstrap(NoRoutes, { messageLimit })).rejects.toThrow(
      /NoRoutes: @LimitMcpMessages\(\) is on a class with no HTTP route, so it would limit nothing/,
    );
  });

  test('a bad module option', async () => {
    @Controller()
    class PlainController {
      @Get()
      handle() {}
    }
    await expect(bootstrap(PlainController, { httpStatus: 500 as never })).rejects.toThrow(
      'McpRateLimitModule: "httpStatus" must be 200 or 429 (got 500)',
    );
    await expect(bootstrap(PlainController, { messageLimit: { limits: [] } })).rejects.toThrow(
      'McpRateLimitModule: "messageLimit.limits" must be a non-empty array of limits',
    );
    await expect(bootstrap(PlainController, { onStoreError: 'retry' as never })).rejects.toThrow(
      '"onStoreError" must be insurance, allow or deny (got retry)',
    );
  });

  test('bad @RateLimitOptions()', async () => {
    @Controller()
    class OptionsController {
      @Get()
      @RateLimit(limit)
      @RateLimitOptions({ toolDenial: 'silence' } as never)
      list() {}
    }
    await expect(bootstrap(OptionsController)).rejects.toThrow(
      'OptionsController.list: @RateLimitOptions() "toolDenial" must be error or result (got "silence")',
    );
  });

  test('multiRoundTrip: a boolean, and only where MCP is answered', async () => {
    @Controller()
    class NotBoolean {
      @Get()
      @RateLimit(limit)
      @RateLimitOptions({ multiRoundTrip: 'yes' } as never)
      list() {}
    }
    await expect(bootstrap(NotBoolean)).rejects.toThrow(
      'NotBoolean.list: @RateLimitOptions() "multiRoundTrip" must be true or false (got "yes")',
    );
    // A plain route answers no MCP: no call of it continues a multi round-trip call.
    @Controller()
    class PlainRoute {
      @Get()
      @RateLimit(limit)
      @RateLimitOptions({ multiRoundTrip: true })
      list() {}
    }
    await expect(bootstrap(PlainRoute)).rejects.toThrow(
      'PlainRoute.list: @RateLimitOptions({ multiRoundTrip: true }) is on a route that is not an MCP endpoint',
    );
  });

  test('new module options: unidentified, errorCode, toolDenial, refundWhen', async () => {
    @Controller()
    class PlainController {
      @Get()
      @RateLimit(limit)
      list() {}
    }
    for (const [options, message] of [
      [{ unidentified: 'ip' }, '"unidentified" must be deny or shared (got ip)'],
      [
        { errorCode: -32099 },
        '"errorCode" is in -32020..-32099, reserved by the MCP specification',
      ],
      [{ errorCode: '-32005' }, '"errorCode" must be an integer'],
      [{ toolDenial: 'text' }, '"toolDenial" must be error or result (got text)'],
      [{ refundWhen: true }, '"refundWhen" must be a function'],
    ] as const) {
      await expect(bootstrap(PlainController, options as never)).rejects.toThrow(message);
    }
  });

  test('refundWhen with built-in limits on a store that cannot refund', async () => {
    @Controller()
    class RefundingController {
      @Get()
      @RateLimit(limit)
      @RateLimitOptions({ refundWhen: (outcome) => outcome.failed })
      list() {}
    }
    const store: RateLimitStore = {
      evaluate: (checks) =>
        Promise.resolve(
          checks.map(() => ({ allowed: true, retryAfterMs: 0, remaining: 1, resetAfterMs: 0 })),
        ),
    };
    await expect(bootstrap(RefundingController, { store })).rejects.toThrow(
      /RefundingController\.list: "refundWhen" needs a store with refund\(checks\), and ResilientStore\(Object\) has none\. Fix:/,
    );
  });

  test('a ConcurrencyLimit in the message-level limit, or on a store that cannot release', async () => {
    @Controller()
    class SlowController {
      @Get()
      @RateLimit(new ConcurrencyLimit({ maxConcurrent: 2 }))
      render() {}
    }
    const slots = new ConcurrencyLimit({ maxConcurrent: 2 });
    await expect(
      bootstrap(SlowController, { messageLimit: { limits: [limit, slots] } }),
    ).rejects.toThrow(
      'McpRateLimitModule: "messageLimit.limits" cannot hold a ConcurrencyLimit (a message has no end to release its slot at); put it on the handlers with @RateLimit()',
    );
    // Found by attack review 10: a limit's own cost replaced the count of a batch's requests, so
    // five batches of 50 passed a limit of 10 per hour.
    const costly = new FixedWindowRateLimit({ maxCalls: 10, perSeconds: 3600, cost: 1 });
    await expect(bootstrap(SlowController, { messageLimit: { limits: [costly] } })).rejects.toThrow(
      'McpRateLimitModule: "messageLimit.limits" cannot hold a limit with its own "cost": the message-level limit counts each request of a batch; remove "cost" (to charge by arguments, put the limit on the handlers with @RateLimit())',
    );
    const store: RateLimitStore = {
      evaluate: (checks) =>
        Promise.resolve(
          checks.map(() => ({ allowed: true, retryAfterMs: 0, remaining: 1, resetAfterMs: 0 })),
        ),
    };
    await expect(bootstrap(SlowController, { store })).rejects.toThrow(
      /SlowController\.render: a ConcurrencyLimit needs a store with refund\(checks\) to release its slots, and ResilientStore\(Object\) has none\./,
    );
    await expect(bootstrap(SlowController)).resolves.toBeUndefined();
  });

  test('a valid configuration boots', async () => {
    @Controller()
    class GoodController {
      @Get()
      @RateLimit(limit, { consume: () => null })
      @RateLimitCost(2)
      handle() {}
    }
    await expect(bootstrap(GoodController)).resolves.toBeUndefined();
  });
});

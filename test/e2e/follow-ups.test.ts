// Which handlers the module's interceptor follows (follow-ups.ts), against a real MCP-Nest 2.0.5
// server and the SDK's v2 client pinned to 2026-07-28: a handler declared to continue multi
// round-trip calls must be followed, or its continuation is charged as a new call.
import { afterEach, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { inputRequired } from '@modelcontextprotocol/server';
import 'reflect-metadata';
import { Controller, Inject, Module, type INestApplication, type Type } from '@nestjs/common';
import { serveMcpNest } from '../fixtures/mcp-nest-server.js';
import { CONTEXT, Ctx, Payload, type RequestContext } from '@nestjs/microservices';
import {
  McpController,
  McpHttpControllerFor,
  StreamableHttpTransport,
  Tool,
} from '@rekog/mcp-nest';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  FixedWindowRateLimit,
  McpRateLimitModule,
  RateLimit,
  RateLimitOptions,
  limitByContext,
  type McpRateLimitModuleOptions,
} from '../../src/index.js';
import { LIMITS_META_KEY } from '../../src/nest/advertised-limits.js';

const apps: INestApplication[] = [];
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function serve(
  tools: Type<unknown>,
  options: McpRateLimitModuleOptions = {},
): Promise<Client> {
  const transport = new StreamableHttpTransport();
  @Controller('mcp')
  class McpEndpoint extends McpHttpControllerFor(transport) {}
  @Module({ imports: [McpRateLimitModule.forRoot(options)], controllers: [McpEndpoint, tools] })
  class AppModule {}
  const { app, url } = await serveMcpNest(AppModule, transport, 'follow-ups', {
    abortOnError: false,
  });
  apps.push(app);
  const client = new Client(
    { name: 'follow-ups', version: '1.0.0' },
    {
      capabilities: { elicitation: { form: {} } },
      versionNegotiation: { mode: { pin: '2026-07-28' } },
      inputRequired: { autoFulfill: true },
    },
  );
  client.setRequestHandler('elicitation/create', () =>
    Promise.resolve({ action: 'accept' as const, content: { ok: true } }),
  );
  await client.connect(new StreamableHTTPClientTransport(url));
  clients.push(client);
  return client;
}

/** A first round asks for confirmation; the retry (with the answer) runs. */
function confirmOnRetry(mcpContext: unknown): unknown {
  const sdk = (mcpContext as { getArgByIndex(index: number): unknown }).getArgByIndex(4) as {
    mcpReq?: { inputResponses?: Record<string, unknown> };
  };
  if (sdk.mcpReq?.inputResponses?.ok !== undefined) return 'confirmed';
  return {
    ...inputRequired({
      inputRequests: {
        ok: inputRequired.elicit({
          message: 'Go ahead?',
          requestedSchema: z.object({ ok: z.boolean() }),
        }),
      },
      requestState: `state-${randomUUID()}`,
    }),
    content: [],
  };
}

describe('a handler declared multiRoundTrip is followed, whatever its parameters', () => {
  test('request-scoped, through CONTEXT: one logical call of two rounds fits a limit of 1', async () => {
    // Nest's documented way for a microservice handler to read its context: inject CONTEXT
    // (the class becomes request-scoped); the handler's own parameters are all @Payload().
    @McpController()
    class ScopedTools {
      constructor(@Inject(CONTEXT) private readonly request: RequestContext) {}

      @Tool({ name: 'confirm_scoped', description: 'Asks first; 1 per minute' })
      @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 }))
      @RateLimitOptions({ multiRoundTrip: true })
      confirm(@Payload() _args: unknown) {
        return confirmOnRetry(this.request.getContext());
      }
    }
    const client = await serve(ScopedTools);
    const result = await client.callTool({ name: 'confirm_scoped', arguments: {} });
    expect(JSON.stringify(result.content)).toContain('confirmed');
  });
});

describe('@RateLimitOptions on the class and on the method', () => {
  test("the class's refundWhen holds for a method that sets only its toolDenial", async () => {
    @McpController()
    @RateLimitOptions({ refundWhen: (outcome) => outcome.failed })
    class FlakyTools {
      @Tool({
        name: 'flaky_options',
        description: 'Fails when asked; 1 per minute, failures refunded',
        parameters: z.object({ fail: z.boolean() }),
      })
      @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 }))
      @RateLimitOptions({ toolDenial: 'result' })
      flaky({ fail }: { fail: boolean }) {
        if (fail) throw new Error('upstream failed');
        return 'fine';
      }
    }
    const client = await serve(FlakyTools);
    const failed = await client.callTool({ name: 'flaky_options', arguments: { fail: true } });
    expect(failed.isError).toBe(true);
    // The failed call gave its quota back: the next one runs.
    const next = await client.callTool({ name: 'flaky_options', arguments: { fail: false } });
    expect(next.content).toEqual([{ type: 'text', text: '"fine"' }]);
    // The method's toolDenial holds too: the denial is a tool result.
    const denied = await client.callTool({ name: 'flaky_options', arguments: { fail: false } });
    expect(denied.structuredContent).toMatchObject({ error: 'rate_limited' });
  });
});

describe('advertiseLimits in two apps of one process (the declarations belong to the classes)', () => {
  test('an app with the option off never lists the limits of an app that has it on', async () => {
    @McpController()
    class DeclaredTools {
      @Tool({
        name: 'declared',
        description: 'Has a _meta of its own',
        _meta: { 'example.com/x': 1 },
      })
      @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 }))
      declared(@Payload() _args: unknown) {
        return 'ok';
      }
    }
    const off = await serve(DeclaredTools);
    await serve(DeclaredTools, { advertiseLimits: true });
    const [tool] = (await off.listTools()).tools;
    expect(tool._meta?.[LIMITS_META_KEY]).toBeUndefined();
    expect(tool._meta?.['example.com/x']).toBe(1);
  });
});

describe('refundWhen on a multi round-trip call', () => {
  test('a logical call whose last round fails gives back what its first round took', async () => {
    @McpController()
    class AskingTools {
      @Tool({ name: 'ask_then_fail', description: 'Asks first, then fails; 1 per minute' })
      @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 }))
      @RateLimitOptions({ refundWhen: (outcome) => outcome.failed, multiRoundTrip: true })
      ask(@Payload() _args: unknown, @Ctx() ctx: unknown) {
        const answer = confirmOnRetry(ctx);
        if (answer === 'confirmed') throw new Error('upstream failed');
        return answer;
      }
    }
    const client = await serve(AskingTools);
    const failed = await client.callTool({ name: 'ask_then_fail', arguments: {} });
    expect(failed.isError).toBe(true);
    // The logical call failed: refundWhen gives its charge back, so the next one is admitted.
    const again = await client.callTool({ name: 'ask_then_fail', arguments: {} });
    expect(again.isError).toBe(true);
    expect(JSON.stringify(again.content)).not.toContain('Rate limit exceeded');
  });
  test('the refund lands on the limitByContext choice the first round was charged to', async () => {
    // The charge a continuation carries keeps no arguments (nor request): the choice is carried
    // with it, not chosen again from what is kept (here it would fall back to "free").
    @McpController()
    class TieredTools {
      @Tool({
        name: 'tiered_ask_then_fail',
        description: 'Asks first, then fails; 1 per minute in each tier',
        parameters: z.object({ tier: z.string() }),
      })
      @RateLimit(
        limitByContext({
          limits: {
            free: new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 }),
            gold: new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 }),
          },
          select: (context) =>
            (context.args as { tier?: string })?.tier === 'gold' ? 'gold' : 'free',
          fallback: 'free',
        }),
      )
      @RateLimitOptions({ refundWhen: (outcome) => outcome.failed, multiRoundTrip: true })
      ask(@Payload() _args: { tier: string }, @Ctx() ctx: unknown) {
        const answer = confirmOnRetry(ctx);
        if (answer === 'confirmed') throw new Error('upstream failed');
        return answer;
      }
    }
    const client = await serve(TieredTools);
    const gold = { name: 'tiered_ask_then_fail', arguments: { tier: 'gold' } };
    expect((await client.callTool(gold)).isError).toBe(true);
    const again = await client.callTool(gold);
    expect(again.isError).toBe(true);
    expect(JSON.stringify(again.content)).not.toContain('Rate limit exceeded');
  });
});

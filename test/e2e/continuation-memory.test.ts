// Found by attack review 5: each recorded multi round-trip state (input_required answer) kept, for
// its 5-minute life, the whole charged call: the CallContext with the McpCall, its MCP context, the
// raw HTTP request and the call's arguments. The registry is bounded by COUNT (10 000 states), not
// by size: ~208 KB kept per state for a 90 KB argument, ~2 GB at the bound, reachable by callers
// who each stay within their own rate limit (~34 subjects at 60/min); measured here as the heap
// freed when the registry forgets its states: ~110 KB per state before the fix. What must hold: a recorded
// state keeps only what a continuation needs (subject, method, target, cost, the limit set and the
// decision's receipt), never the request, the MCP context or the arguments.
import 'reflect-metadata';
import v8 from 'node:v8';
import vm from 'node:vm';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, test } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/client';
import { anyResult, client2026 } from '../fixtures/mcp-2026-client.js';
import { inputRequired } from '@modelcontextprotocol/server';
import { Controller, Module, type INestApplication } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
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
  McpRateLimitService,
  RateLimit,
} from '../../src/index.js';
import { serveMcpNest } from '../fixtures/mcp-nest-server.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

@McpController()
class AskingTools {
  @Tool({
    name: 'ask',
    description: 'Always asks first',
    parameters: z.object({ blob: z.string() }),
  })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 10_000, perSeconds: 60 }))
  ask(@Payload() _args: { blob: string }, @Ctx() _ctx: unknown) {
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
}

let app: INestApplication | undefined;
let client: Client | undefined;
afterAll(async () => {
  await client?.close();
  await app?.close();
});

describe('the continuations registry', () => {
  test('a recorded state does not keep the call arguments alive (retained heap per state < half of a 90 KB argument)', async () => {
    const transport = new StreamableHttpTransport();
    @Controller('mcp')
    class McpEndpoint extends McpHttpControllerFor(transport) {}
    @Module({
      imports: [McpRateLimitModule.forRoot()],
      controllers: [McpEndpoint, AskingTools],
    })
    class AppModule {}
    let url: URL;
    ({ app, url } = await serveMcpNest(AppModule, transport, 'asking'));
    client = await client2026('asking', false).connect(url);
    const blob = 'x'.repeat(90_000);
    const firstRound = () =>
      client!.request(
        { method: 'tools/call', params: { name: 'ask', arguments: { blob } } } as never,
        anyResult,
        { allowInputRequired: true } as never,
      ) as Promise<{ resultType?: string }>;
    expect((await firstRound()).resultType).toBe('input_required');
    const rounds = 300;
    for (let i = 0; i < rounds; i++) await firstRound();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const registry = app.get(McpRateLimitService).continuations as unknown as {
      issued: Map<string, unknown>;
    };
    expect(registry.issued.size).toBe(rounds + 1);
    // What the registry keeps alive: the heap with its states, less the heap once they are
    // forgotten. (The server's HTTP stack alone keeps ~97 KB per request of this size for a while,
    // with or without the rate limiter: a before/after difference would measure that too.)
    gc();
    gc();
    const withStates = process.memoryUsage().heapUsed;
    registry.issued.clear();
    gc();
    gc();
    const perState = (withStates - process.memoryUsage().heapUsed) / (rounds + 1);
    expect(perState).toBeLessThan(45_000);
  });
});

// Found by attack review 5: each recorded multi round-trip state (input_required answer) kept, for
// its 5-minute life, the whole charged call: the CallContext with the McpCall, its MCP context, the
// raw HTTP request and the call's arguments. The registry is bounded by COUNT (10 000 states), not
// by size: ~208 KB kept per state for a 90 KB argument, ~2 GB at the bound, reachable by callers
// who each stay within their own rate limit (~34 subjects at 60/min); measured here as the heap
// freed when the registry forgets its states: ~110 KB per state before the fix. What must hold: a recorded
// state keeps only what a continuation needs (subject, method, target, cost, the limit set and the
// decision's receipt), never the request, the MCP context or the arguments.
// Found by attack review 7: the decision's receipt kept the store's whole outcome per limit: on the
// MemoryStore, the algorithm's step with its state, for a SlidingWindowRateLimit every admission
// time of the subject still in the window (up to 10 000 numbers, a fresh copy per call): one user
// within a quota of 10 000 an hour made the registry hold 1 + 2 + ... + 10 000 numbers (~400 MB).
// What must hold: a receipt keeps what a refund or a release needs (when each limit admitted the
// call), not the store's outcomes.
import 'reflect-metadata';
import v8 from 'node:v8';
import vm from 'node:vm';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
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
  RateLimitOptions,
  SlidingWindowRateLimit,
} from '../../src/index.js';
import { serveMcpNest } from '../fixtures/mcp-nest-server.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** An answer that asks for input first, with a fresh requestState (recorded by the registry). */
function askFirst() {
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

@McpController()
class AskingTools {
  @Tool({
    name: 'ask',
    description: 'Always asks first',
    parameters: z.object({ blob: z.string() }),
  })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 10_000, perSeconds: 60 }))
  @RateLimitOptions({ multiRoundTrip: true })
  ask(@Payload() _args: { blob: string }, @Ctx() _ctx: unknown) {
    return askFirst();
  }

  @Tool({
    name: 'askWindowed',
    description: 'Always asks first, under a sliding window',
    parameters: z.object({ blob: z.string() }),
  })
  @RateLimit(new SlidingWindowRateLimit({ maxCalls: 10_000, perSeconds: 3600 }))
  @RateLimitOptions({ multiRoundTrip: true })
  askWindowed(@Payload() _args: { blob: string }, @Ctx() _ctx: unknown) {
    return askFirst();
  }
}

let app: INestApplication;
let client: Client;
beforeAll(async () => {
  const transport = new StreamableHttpTransport();
  @Controller('mcp')
  class McpEndpoint extends McpHttpControllerFor(transport) {}
  @Module({
    imports: [McpRateLimitModule.forRoot()],
    controllers: [McpEndpoint, AskingTools],
  })
  class AppModule {}
  let url: URL;
  ({ app, url } = await serveMcpNest(AppModule, transport, 'asking', {
    // The forced collections below stop client and server together for seconds on a loaded
    // machine; with Node's 5 s keep-alive the server could close a socket the client was reusing
    // (ECONNRESET, seen once in a full run).
    configure: (nest) => {
      (nest.getHttpServer() as { keepAliveTimeout: number }).keepAliveTimeout = 120_000;
    },
  }));
  client = await client2026('asking', false).connect(url);
});
afterAll(async () => {
  await client?.close();
  await app?.close();
});

/**
 * The heap a recorded state keeps alive, per state, after `rounds` first rounds of `tool`: the heap
 * with the registry's states, less the heap once it forgets them. (The server's HTTP stack alone
 * keeps ~97 KB per request of 90 KB for a while, with or without the rate limiter: a before/after
 * difference would measure that too.)
 */
async function retainedPerState(tool: string, blob: string, rounds: number): Promise<number> {
  const firstRound = () =>
    client.request(
      { method: 'tools/call', params: { name: tool, arguments: { blob } } } as never,
      anyResult,
      { allowInputRequired: true } as never,
    ) as Promise<{ resultType?: string }>;
  const registry = app.get(McpRateLimitService).continuations as unknown as {
    issued: Map<string, unknown>;
  };
  registry.issued.clear();
  expect((await firstRound()).resultType).toBe('input_required');
  for (let i = 0; i < rounds; i++) await firstRound();
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(registry.issued.size).toBe(rounds + 1);
  gc();
  gc();
  const withStates = process.memoryUsage().heapUsed;
  registry.issued.clear();
  gc();
  gc();
  return (withStates - process.memoryUsage().heapUsed) / (rounds + 1);
}

describe('the continuations registry', () => {
  test('a recorded state does not keep the call arguments alive (retained heap per state < half of a 90 KB argument)', async () => {
    expect(await retainedPerState('ask', 'x'.repeat(90_000), 300)).toBeLessThan(45_000);
  }, 120_000);

  test("a recorded state does not keep its subject's sliding window alive (< 4 KB per state)", async () => {
    // 2000 admissions in the window: a state keeping the window's timestamps would weigh ~8 KB on
    // average, growing with every call.
    // 2000 MCP requests in turn: ~20 s alone, over 50 s beside a loaded suite.
    expect(await retainedPerState('askWindowed', 'x', 2000)).toBeLessThan(4_000);
  }, 120_000);
});

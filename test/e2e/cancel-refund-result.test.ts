// A call its client cancels stays charged however its handler ends. Found by attack review 6: the
// interceptor checked for a cancellation only when the handler threw, so a handler that honoured
// the signal by answering an `isError: true` result was refunded by a refundWhen that refunds error
// results, and a client that cancelled each call just before it answered ran the tool without limit.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Controller, Module, type INestApplication } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import {
  McpController,
  McpHttpControllerFor,
  StreamableHttpTransport,
  Tool,
  type McpContext,
} from '@rekog/mcp-nest';
import {
  FixedWindowRateLimit,
  McpRateLimitModule,
  RateLimit,
  RateLimitOptions,
} from '../../src/index.js';
import { serveMcpNest } from '../fixtures/mcp-nest-server.js';

/** How many times the expensive work was started, and the calls now waiting to answer. */
let started = 0;

@McpController()
class ReportTools {
  @Tool({ name: 'report', description: 'Expensive: 2 per minute; a failed upstream is refunded' })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  @RateLimitOptions({
    refundWhen: (outcome) =>
      outcome.failed || (outcome.result as { isError?: boolean } | undefined)?.isError === true,
  })
  async report(@Payload() _args: unknown, @Ctx() context: McpContext) {
    started++;
    // The expensive work, which honours the request's signal (as the README recommends).
    const sdk = context.getArgByIndex(4) as { mcpReq: { signal: AbortSignal } };
    const aborted = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      sdk.mcpReq.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    // A tool error as a result, as MCP tools usually report them.
    if (aborted) return { isError: true, content: [{ type: 'text', text: 'cancelled' }] };
    return { content: [{ type: 'text', text: 'report' }] };
  }
}

let app: INestApplication;
let url: URL;
let client: Client;

beforeAll(async () => {
  const transport = new StreamableHttpTransport({ statefulMode: true });
  @Controller('mcp')
  class McpEndpoint extends McpHttpControllerFor(transport) {}
  @Module({
    imports: [McpRateLimitModule.forRoot()],
    controllers: [McpEndpoint, ReportTools],
  })
  class AppModule {}
  ({ app, url } = await serveMcpNest(AppModule, transport, 'reports-result'));
  client = new Client({ name: 'cancel-refund-result', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(url));
});

afterAll(async () => {
  await client?.close();
  await app?.close();
});

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('refundWhen on isError results and calls the client cancels itself', () => {
  test('a cancelled call answered with an isError result stays charged: the 3rd attempt is denied', async () => {
    const outcomes: string[] = [];
    for (let attempt = 0; attempt < 6; attempt++) {
      const before = started;
      const controller = new AbortController();
      const call = client
        .callTool({ name: 'report', arguments: {} }, { signal: controller.signal })
        .then(
          () => 'answered',
          (error: { code?: number }) => (error.code === -32005 ? 'denied' : 'cancelled'),
        );
      // Either the handler starts (admitted) or the call is denied.
      const raced = await Promise.race([until(() => started > before).then(() => 'started'), call]);
      if (raced === 'started') {
        controller.abort();
        outcomes.push(await call);
        await new Promise((resolve) => setTimeout(resolve, 50)); // the refund lands
      } else {
        outcomes.push(raced);
      }
    }
    expect(outcomes).toEqual(['cancelled', 'cancelled', 'denied', 'denied', 'denied', 'denied']);
  });
});

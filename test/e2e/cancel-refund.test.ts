// A call its client cancels stays charged, whatever refundWhen says and however its handler ends.
// Found by attack reviews 5 and 6: with refundWhen: (outcome) => outcome.failed (the README's
// example), the SDK aborts the handler's signal on notifications/cancelled, a handler that honours
// it throws, and the call was refunded; once that was fixed, a handler that honoured the signal by
// answering an `isError: true` result was still refunded by a refundWhen that refunds tool errors.
// Either way a client that cancelled each call just before it answered ran the tool without limit
// under FixedWindowRateLimit(2 per minute).
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
  type CallOutcome,
} from '../../src/index.js';
import { serveMcpNest } from '../fixtures/mcp-nest-server.js';

/** How many times each tool's expensive work was started. */
const started = { throws: 0, answers: 0 };

/** The expensive work, which honours the request's signal (as the README recommends). */
function work(context: McpContext): Promise<boolean> {
  const sdk = context.getArgByIndex(4) as { mcpReq: { signal: AbortSignal } };
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 10_000);
    sdk.mcpReq.signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

// The README's refundWhen, and one that also refunds tool errors answered as results.
const refundFailures = (outcome: CallOutcome) =>
  outcome.failed || (outcome.result as { isError?: boolean } | undefined)?.isError === true;

@McpController()
class ReportTools {
  @Tool({ name: 'throws', description: 'Expensive: 2 per minute; a failed call is refunded' })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  @RateLimitOptions({ refundWhen: (outcome) => outcome.failed })
  async throws(@Payload() _args: unknown, @Ctx() context: McpContext) {
    started.throws++;
    if (await work(context)) throw new Error('aborted');
    return 'report';
  }

  @Tool({ name: 'answers', description: 'Expensive: 2 per minute; a tool error is refunded' })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  @RateLimitOptions({ refundWhen: refundFailures })
  async answers(@Payload() _args: unknown, @Ctx() context: McpContext) {
    started.answers++;
    // A tool error as a result, as MCP tools usually report them.
    if (await work(context))
      return { isError: true, content: [{ type: 'text', text: 'cancelled' }] };
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
  ({ app, url } = await serveMcpNest(AppModule, transport, 'reports'));
  client = new Client({ name: 'cancel-refund', version: '1.0.0' });
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

/** Six calls of `tool`, each cancelled by the client as soon as its handler has started. */
async function cancelEachCall(tool: keyof typeof started): Promise<string[]> {
  const outcomes: string[] = [];
  for (let attempt = 0; attempt < 6; attempt++) {
    const before = started[tool];
    const controller = new AbortController();
    const call = client.callTool({ name: tool, arguments: {} }, { signal: controller.signal }).then(
      () => 'answered',
      (error: { code?: number }) => (error.code === -32005 ? 'denied' : 'cancelled'),
    );
    // Either the handler starts (admitted) or the call is denied.
    const raced = await Promise.race([
      until(() => started[tool] > before).then(() => 'started'),
      call,
    ]);
    if (raced === 'started') {
      controller.abort();
      outcomes.push(await call);
      await new Promise((resolve) => setTimeout(resolve, 50)); // a refund would land
    } else {
      outcomes.push(raced);
    }
  }
  return outcomes;
}

describe('refundWhen and calls the client cancels itself', () => {
  const twoThenDenied = ['cancelled', 'cancelled', 'denied', 'denied', 'denied', 'denied'];

  test('a cancelled call whose handler throws stays charged: the 3rd attempt is denied', async () => {
    expect(await cancelEachCall('throws')).toEqual(twoThenDenied);
  });

  test('a cancelled call answered with an isError result stays charged: the 3rd attempt is denied', async () => {
    expect(await cancelEachCall('answers')).toEqual(twoThenDenied);
  });
});

// Found by attack review 9: a call that costs more than a limit's whole quota is told to retry.
// `@RateLimitCost((args) => args.pages)` on a TokenBucketRateLimit of capacity 100 (the README's
// invoices.export): a call for 200 pages can never be admitted, however long the client waits,
// yet it is denied with -32005 and `data.retryAfter: 100`, which the README defines as "the
// earliest moment at which the same call would be admitted". A client (or the README's
// `callPolitely`) that does as told waits and retries for ever; the denial should say the call
// cannot be admitted (a clear error, not a rate-limit denial with a retry time).
import 'reflect-metadata';
import { afterEach, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Controller, Module, type INestApplication } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import {
  McpController,
  McpHttpControllerFor,
  StreamableHttpTransport,
  Tool,
} from '@rekog/mcp-nest';
import { z } from 'zod';
import { serveMcpNest } from '../fixtures/mcp-nest-server.js';
import {
  McpRateLimitModule,
  RateLimit,
  RateLimitCost,
  TokenBucketRateLimit,
} from '../../src/index.js';

const apps: INestApplication[] = [];
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

let exported = 0;

@McpController()
class ExportTools {
  @Tool({
    name: 'invoices.export',
    description: 'Export',
    parameters: z.object({ pages: z.number().int().min(1) }),
  })
  @RateLimit(new TokenBucketRateLimit({ capacity: 100, refillPerSecond: 1 }))
  @RateLimitCost((args: { pages: number }) => args.pages)
  export(@Payload() { pages }: { pages: number }) {
    exported++;
    return { content: [{ type: 'text', text: `exported ${pages} pages` }] };
  }
}

test('a tool call costing more than the whole quota fails, and is not told to retry', async () => {
  const transport = new StreamableHttpTransport();
  @Controller('mcp')
  class McpEndpoint extends McpHttpControllerFor(transport) {}
  @Module({ imports: [McpRateLimitModule.forRoot()], controllers: [McpEndpoint, ExportTools] })
  class AppModule {}
  const { app, url } = await serveMcpNest(AppModule, transport, 'cost', { abortOnError: false });
  apps.push(app);
  const client = new Client({ name: 'cost', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(url));
  clients.push(client);

  let answer: { code?: unknown; data?: { retryAfter?: unknown } } = {};
  let result: { isError?: unknown; content?: unknown } | undefined;
  try {
    result = await client.callTool({ name: 'invoices.export', arguments: { pages: 200 } });
  } catch (error) {
    answer = error as typeof answer;
  }
  const toldToRetry = answer.code === -32005 && typeof answer.data?.retryAfter === 'number';
  expect(exported).toBe(0); // never admitted, of course
  expect({ toldToRetry, code: answer.code, data: answer.data }).toMatchObject({
    toldToRetry: false,
  });
  // It fails as a bad cost does (a configuration error, answered as the tool's error), saying why.
  expect(result?.isError).toBe(true);
  expect(JSON.stringify(result?.content)).toMatch(/TokenBucketRateLimit.*cost 200.*quota of 100/);
  // A call within the quota still runs.
  await client.callTool({ name: 'invoices.export', arguments: { pages: 100 } });
  expect(exported).toBe(1);
});

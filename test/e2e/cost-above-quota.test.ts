// Found by attack review 9: a call that costs more than a limit's whole quota (an export of 200
// pages against a bucket of 100) was answered -32005 with a `retryAfter`, though no window would
// ever admit it: a client that honours `retryAfter` retried forever, and a model read "retry in N
// seconds". It is now a client error that says so: JSON-RPC "Invalid params" (-32602) for a call,
// "Invalid Request" (-32600) for a batch above the message-level quota, without `retryAfter` and
// never a 5xx; the call stays unrun and uncounted.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Controller, HttpCode, Module, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  McpController,
  McpHttpControllerFor,
  StreamableHttpTransport,
  Tool,
} from '@rekog/mcp-nest';
import { z } from 'zod';
import {
  FixedWindowRateLimit,
  LimitMcpMessages,
  McpRateLimitModule,
  RateLimit,
  RateLimitOptions,
  TokenBucketRateLimit,
} from '../../src/index.js';
import { serveMcpNest } from '../fixtures/mcp-nest-server.js';

let runs = 0;

const pagesLimit = () =>
  new TokenBucketRateLimit({
    capacity: 100,
    refillPerSecond: 1,
    cost: (context) => (context.args as { pages: number }).pages,
  });

@McpController()
class Tools {
  @Tool({
    name: 'export',
    description: 'pages cost quota',
    parameters: z.object({ pages: z.number() }),
  })
  @RateLimit(pagesLimit())
  exportPages() {
    runs++;
    return 'exported';
  }

  @Tool({
    name: 'export-result',
    description: 'denials as tool results',
    parameters: z.object({ pages: z.number() }),
  })
  @RateLimit(pagesLimit())
  @RateLimitOptions({ toolDenial: 'result' })
  exportPagesAsResult() {
    runs++;
    return 'exported';
  }
}

let app: INestApplication;
let url: URL;
const clients: Client[] = [];

beforeAll(async () => {
  const transport = new StreamableHttpTransport();
  @Controller('mcp')
  @LimitMcpMessages()
  class McpEndpoint extends McpHttpControllerFor(transport) {}
  @Module({
    imports: [
      McpRateLimitModule.forRoot({
        messageLimit: { limits: [new FixedWindowRateLimit({ maxCalls: 20, perSeconds: 60 })] },
      }),
    ],
    controllers: [McpEndpoint, Tools],
  })
  class AppModule {}
  ({ app, url } = await serveMcpNest(AppModule, transport, 'above-quota'));
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await app?.close();
});

async function connect(): Promise<Client> {
  const client = new Client({ name: 'e2e', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(url));
  clients.push(client);
  return client;
}

describe('a call that costs more than its limit ever allows', () => {
  test('is an "Invalid params" error without retryAfter, not a denial; smaller calls still run', async () => {
    const client = await connect();
    const runsBefore = runs;
    const error = await client.callTool({ name: 'export', arguments: { pages: 200 } }).then(
      () => undefined,
      (thrown: unknown) => thrown as { code: number; message: string; data: unknown },
    );
    expect(error).toMatchObject({
      code: -32602,
      message: expect.stringContaining('exceeds the rate limit quota'),
    });
    expect(error?.data).toEqual({
      limit: 'TokenBucketRateLimit(capacity 100, 1/s)',
      quota: 100,
      windowSeconds: 100,
      cost: 200,
    });
    expect(runs).toBe(runsBefore);
    // Nothing was taken: the whole bucket is still there.
    const result = await client.callTool({ name: 'export', arguments: { pages: 100 } });
    expect(result.isError).toBeFalsy();
    expect(runs).toBe(runsBefore + 1);
  });

  test('as a tool result (toolDenial "result"): says retrying will not help', async () => {
    const client = await connect();
    const result = await client.callTool({ name: 'export-result', arguments: { pages: 101 } });
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ error: 'above_quota', cost: 101, quota: 100 });
    expect(result.structuredContent).not.toHaveProperty('retryAfter');
    const text = (result.content as { text: string }[]).map((part) => part.text).join('');
    expect(text).toContain('retrying will not help');
  });

  test('a batch of more messages than the message-level quota is an "Invalid Request" error, status 200, no Retry-After', async () => {
    const runsBefore = runs;
    const batch = Array.from({ length: 21 }, (_, index) => ({
      jsonrpc: '2.0',
      id: index + 1,
      method: 'tools/call',
      params: { name: 'export', arguments: { pages: 1 } },
    }));
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-06-18',
      },
      body: JSON.stringify(batch),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('retry-after')).toBeNull();
    const body = (await response.json()) as { error?: { code: number; data: unknown } };
    expect(body.error?.code).toBe(-32600);
    expect(body.error?.data).toMatchObject({ cost: 21, quota: 20 });
    expect(runs).toBe(runsBefore);
  });
});

describe('with httpStatus 429', () => {
  test('a batch above the message-level quota is answered 400: 429 would ask for a retry', async () => {
    @Controller('rpc')
    @LimitMcpMessages()
    class RpcEndpoint {
      @Post()
      @HttpCode(200)
      handle() {
        return { jsonrpc: '2.0', id: 1, result: {} };
      }
    }
    @Module({
      imports: [
        McpRateLimitModule.forRoot({
          httpStatus: 429,
          messageLimit: { limits: [new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 })] },
        }),
      ],
      controllers: [RpcEndpoint],
    })
    class RpcModule {}
    const rpcApp = await NestFactory.create(RpcModule, { logger: false });
    try {
      await rpcApp.listen(0, '127.0.0.1');
      const { port } = rpcApp.getHttpServer().address() as { port: number };
      const post = (messages: number) =>
        fetch(`http://127.0.0.1:${port}/rpc`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(
            Array.from({ length: messages }, (_, index) => ({
              jsonrpc: '2.0',
              id: index + 1,
              method: 'tools/call',
              params: { name: 'x' },
            })),
          ),
        });
      const tooLarge = await post(3);
      expect(tooLarge.status).toBe(400);
      expect(((await tooLarge.json()) as { error: { code: number } }).error.code).toBe(-32600);
      // A real denial keeps the app's status: the quota was left whole, 2 pass, the next is 429.
      expect((await post(2)).status).toBe(200);
      expect((await post(1)).status).toBe(429);
    } finally {
      await rpcApp.close();
    }
  });
});

// The consumer smoke test, shared by every fixture app (symlinked into each one's
// src/): an MCP-Nest server over Streamable HTTP and a plain JSON-RPC controller, both limited by
// the installed package, driven by the official MCP SDK client and by fetch.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { Body, Controller, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { McpController, McpStrategy, StreamableHttpTransport, Tool } from '@rekog/mcp-nest';
import {
  createRateLimiter,
  FixedWindowRateLimit,
  LimitMcpMessages,
  McpRateLimitModule,
  RateLimit,
  SlidingWindowRateLimit,
} from 'nestjs-mcp-rate-limit';

/** The core without Nest: a fixed window of 2 admits two calls of one subject, not a third. */
export async function runCoreSmoke(): Promise<void> {
  const limiter = createRateLimiter({
    limits: [new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 })],
  });
  const decisions = [];
  for (let call = 0; call < 3; call++) decisions.push(await limiter.consume('user:alice'));
  assert.deepEqual(
    decisions.map((decision) => decision.allowed),
    [true, true, false],
  );
  assert.ok((decisions[2].retryAfter ?? 0) >= 1, 'a denial says when to retry');
  assert.equal((await limiter.consume('user:bob')).allowed, true, 'subjects have their own quota');
}

@McpController()
class SmokeTools {
  @Tool({ name: 'limited', description: 'Two calls per minute' })
  @RateLimit(new SlidingWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  limited() {
    return 'limited ok';
  }
}

@Controller('rpc')
@LimitMcpMessages()
class JsonRpcEndpoint {
  @Post()
  @HttpCode(200)
  handle(@Body() body: { id?: unknown }) {
    return { jsonrpc: '2.0', id: body.id ?? null, result: {} };
  }
}

@Module({
  imports: [
    McpRateLimitModule.forRoot({
      registerGlobally: true,
      messageLimit: {
        limits: [new SlidingWindowRateLimit({ maxCalls: 2, perSeconds: 60 })],
        excludedMethods: ['ping'],
      },
    }),
  ],
  controllers: [SmokeTools, JsonRpcEndpoint],
})
class SmokeModule {}

interface RateLimitedError {
  code?: unknown;
  data?: { retryAfter?: unknown };
}

function assertRateLimited(error: RateLimitedError, where: string): void {
  assert.equal(error.code, -32005, `${where}: JSON-RPC error code`);
  const retryAfter = error.data?.retryAfter;
  assert.ok(
    typeof retryAfter === 'number' && Number.isInteger(retryAfter) && retryAfter >= 1,
    `${where}: data.retryAfter is whole seconds (got ${String(retryAfter)})`,
  );
}

/** Boot the app, prove both limits deny with -32005, shut down. Answers what it proved. */
export async function runNestSmoke(): Promise<string[]> {
  const app = await NestFactory.create(SmokeModule, { logger: ['error', 'warn'] });
  const mcp = new McpStrategy({
    name: 'consumer-smoke',
    version: '1.0.0',
    transports: [new StreamableHttpTransport()],
  });
  mcp.setHttpAdapter(app.getHttpAdapter());
  app.connectMicroservice({ strategy: mcp }, { inheritAppConfig: true });
  await app.startAllMicroservices();
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  const proved: string[] = [];
  const client = new Client({ name: 'consumer-smoke', version: '1.0.0' });
  try {
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)),
    );
    for (let call = 0; call < 2; call++) {
      const result = await client.callTool({ name: 'limited', arguments: {} });
      assert.match(JSON.stringify(result), /limited ok/);
    }
    const denial = await client.callTool({ name: 'limited', arguments: {} }).then(
      (result) => assert.fail(`the third call was admitted: ${JSON.stringify(result)}`),
      (error: RateLimitedError) => error,
    );
    assertRateLimited(denial, 'MCP-Nest tool');
    proved.push(`MCP-Nest tool: 2 admitted, then -32005 retryAfter=${denial.data?.retryAfter}`);

    const post = (body: object) =>
      fetch(`http://127.0.0.1:${port}/rpc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    assert.equal((await post({ jsonrpc: '2.0', id: 'p', method: 'ping' })).status, 200);
    for (let id = 1; id <= 2; id++) {
      const response = await post({ jsonrpc: '2.0', id, method: 'tools/call' });
      assert.deepEqual(await response.json(), { jsonrpc: '2.0', id, result: {} });
    }
    const denied = await post({ jsonrpc: '2.0', id: 3, method: 'tools/call' });
    assert.equal(denied.status, 200);
    assert.match(denied.headers.get('retry-after') ?? '', /^\d+$/, 'Retry-After header');
    const body = (await denied.json()) as { id: unknown; error: RateLimitedError };
    assert.equal(body.id, 3, 'the denial echoes the request id');
    assertRateLimited(body.error, 'JSON-RPC controller');
    proved.push('JSON-RPC controller: ping free, 2 admitted, then HTTP 200 + -32005 + Retry-After');
  } finally {
    await client.close();
    await app.close();
  }
  return proved;
}

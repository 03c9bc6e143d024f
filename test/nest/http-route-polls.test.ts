// A tasks request (`tasks/get`, …) is a poll of a task whose tools/call was charged: on a route
// declared an MCP endpoint (`@LimitMcpMessages()`) it is not charged again. On any other route the
// body's "method" is only the client's word, and everything that reaches the handler is charged.
// Found by attack review 4: a REST route's @RateLimit (and a route's ConcurrencyLimit) was skipped
// by adding "method": "tasks/get" to the body.
import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { Body, Controller, HttpCode, Module, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FixedWindowRateLimit, McpRateLimitModule, RateLimit } from '../../src/index.js';
import { createJsonRpcApp, slowCalls } from '../fixtures/json-rpc-app.js';

const poll = (id: number) => ({ jsonrpc: '2.0', id, method: 'tasks/get', params: {} });
const post = (url: string, body: unknown, user = 'u1') =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer user:${user}` },
    body: JSON.stringify(body),
  });

describe('plain routes, not MCP endpoints', () => {
  let logins = 0;

  @Controller()
  class Routes {
    @Post('login')
    @HttpCode(200)
    @RateLimit(new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 60 }))
    login(@Body() _credentials: unknown) {
      logins++;
      return { ok: false };
    }
  }

  let toolRuns = 0;
  /** The README's advice for a route that runs every request of a JSON-RPC batch. */
  const batchSize = (context: { request?: unknown }): number => {
    const body = (context.request as { body?: unknown } | undefined)?.body;
    return Array.isArray(body) ? body.length : 1;
  };

  @Controller()
  class BatchRoutes {
    @Post('rpc')
    @HttpCode(200)
    @RateLimit(new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 60, cost: batchSize }))
    rpc(@Body() body: unknown) {
      const messages = (Array.isArray(body) ? body : [body]) as { id?: unknown }[];
      toolRuns += messages.length;
      return messages.map(({ id }) => ({ jsonrpc: '2.0', id, result: { content: [] } }));
    }
  }

  @Module({ imports: [McpRateLimitModule.forRoot()], controllers: [Routes, BatchRoutes] })
  class AppModule {}

  let app: INestApplication;
  let base: string;
  beforeAll(async () => {
    app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  });
  afterAll(async () => app?.close());

  test('a REST route limited to 3 per minute runs 3 attempts, "method": "tasks/get" or not', async () => {
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      const credentials = { user: 'admin', password: `guess-${attempt}`, method: 'tasks/get' };
      statuses.push((await post(`${base}/login`, credentials)).status);
    }
    expect(logins).toBe(3);
    expect(statuses.filter((status) => status === 200)).toHaveLength(20); // denials are HTTP 200
  });

  test('a route that weighs batches by their size runs at most its limit of calls', async () => {
    const call = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: {} });
    const batch = (size: number) => Array.from({ length: size }, (_, index) => call(index));
    await post(`${base}/rpc`, batch(50)); // more than the limit: denied whole
    await post(`${base}/rpc`, batch(2));
    await post(`${base}/rpc`, batch(2)); // 4 of 3: denied whole
    await post(`${base}/rpc`, call(1));
    await post(`${base}/rpc`, call(2));
    expect(toolRuns).toBe(3);
  });
});

describe('routes of the JSON-RPC fixture', () => {
  const apps: INestApplication[] = [];
  afterEach(async () => {
    for (const running of slowCalls.splice(0)) running.finish();
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });

  test('ConcurrencyLimit(1) on a route that is not an MCP endpoint: a "poll" takes a slot too', async () => {
    const started = await createJsonRpcApp({ messagesPerMinute: 1000 });
    apps.push(started.app);
    let answered = 0;
    const inFlight = [1, 2, 3, 4, 5].map((id) =>
      post(`${started.url}/slow`, poll(id)).then(() => answered++),
    );
    const deadline = Date.now() + 3000;
    while ((answered < 4 || slowCalls.length < 1) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Four are denied at once; one runs until the test ends it.
    expect([answered, slowCalls.length]).toEqual([4, 1]);
    for (const running of slowCalls.splice(0)) running.finish();
    await Promise.all(inFlight);
  });

  test('every tasks method, 2026-07-28 and 2025-11-25, passes the message-level limit uncounted', async () => {
    const started = await createJsonRpcApp({ messagesPerMinute: 2 });
    apps.push(started.app);
    const strict = `${started.url}/strict`;
    const code = async (body: unknown): Promise<number | undefined> => {
      const answer = (await (await post(strict, body)).json()) as { error?: { code: number } };
      return answer.error?.code;
    };
    const methods = ['tasks/get', 'tasks/update', 'tasks/cancel', 'tasks/result', 'tasks/list'];
    const polls: (number | undefined)[] = [];
    for (const [index, method] of methods.entries()) {
      for (const id of [2 * index, 2 * index + 1]) {
        polls.push(await code({ jsonrpc: '2.0', id, method, params: { taskId: 't1' } }));
      }
    }
    expect(polls).not.toContain(-32005);
    // Both messages of the minute are still there for real work.
    const call = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: {} });
    expect([await code(call(20)), await code(call(21)), await code(call(22))]).toEqual([
      undefined,
      undefined,
      -32005,
    ]);
  });

  test('on a route declared an MCP endpoint, polls are not charged to its own limit; calls are', async () => {
    const started = await createJsonRpcApp({ messagesPerMinute: 1000 });
    apps.push(started.app);
    const strict = `${started.url}/strict`; // @RateLimit 2 per 60 s, its class @LimitMcpMessages()
    const denied = async (body: unknown): Promise<boolean> => {
      const answer = (await (await post(strict, body)).json()) as { error?: { code: number } };
      return answer.error?.code === -32005;
    };
    expect([await denied(poll(1)), await denied(poll(2)), await denied(poll(3))]).toEqual([
      false,
      false,
      false,
    ]);
    const call = (id: number) => ({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name: 'x' },
    });
    expect([await denied(call(4)), await denied(call(5)), await denied(call(6))]).toEqual([
      false,
      false,
      true,
    ]);
  });
});

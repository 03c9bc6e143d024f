// Which HTTP answers issue a multi round-trip `requestState` (MCP 2026-07-28): only a route declared
// an MCP endpoint (`@LimitMcpMessages()`) answering a JSON-RPC response whose result is
// `input_required`. Found by attack review 7: the interceptor took any route's answer with
// `resultType: "input_required"` and a `requestState` for a state the server issued, and a later
// body saying `"method": "tools/call"` with `params.requestState` set to it was a free
// continuation. A route that echoes what it is sent (a create endpoint answering the saved object,
// a preview, a validation echo) let the client issue its own states: each charge bought 10 runs
// (the rounds bound), 20 runs under a limit of 2. Attack review 4 fixed the same confusion for
// tasks/* ("on any other route a body's 'method' is only the client's word").
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Body, Controller, HttpCode, Module, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  FixedWindowRateLimit,
  LimitMcpMessages,
  McpRateLimitModule,
  RateLimit,
  RateLimitOptions,
} from '../../src/index.js';

/** Starts an app of `controller`; with `endpoint`, a message-level limit its MCP endpoint applies. */
async function start(
  controller: object,
  endpoint = false,
): Promise<{ app: INestApplication; url: string }> {
  const messageLimit = { limits: [new FixedWindowRateLimit({ maxCalls: 1000, perSeconds: 60 })] };
  @Module({
    imports: [McpRateLimitModule.forRoot(endpoint ? { messageLimit } : {})],
    controllers: [controller as new () => unknown],
  })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${port}` };
}

async function post(url: string, body: unknown): Promise<{ status: number; answer: unknown }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, answer: await response.json() };
}

/** Whether a body is the limiter's JSON-RPC denial. */
const isDenial = (answer: unknown): boolean =>
  (answer as { error?: { code?: number } }).error?.code === -32005;

describe('a plain REST route (not an MCP endpoint) issues no continuation', () => {
  let created = 0;

  @Controller()
  class Notes {
    /** A common create endpoint: it answers the saved object, fields as they were sent. */
    @Post('notes')
    @HttpCode(201)
    @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
    create(@Body() note: Record<string, unknown>) {
      created++;
      return { id: created, ...note };
    }
  }

  let app: INestApplication;
  let url: string;
  beforeAll(async () => {
    ({ app, url } = await start(Notes));
  });
  afterAll(async () => {
    await app?.close();
  });

  test('a route limited to 2 a minute runs at most twice, whatever the bodies say', async () => {
    const statuses: number[] = [];
    let previous: string | undefined;
    for (let request = 1; request <= 24; request++) {
      const body = {
        text: `note ${request}`,
        // Echoed back by the route: what an input_required answer issuing a state looks like.
        resultType: 'input_required',
        requestState: `state-${request}`,
        // And what the retry of a multi round-trip tools/call carrying the last state looks like.
        method: 'tools/call',
        params: { arguments: {}, ...(previous === undefined ? {} : { requestState: previous }) },
      };
      const { status, answer } = await post(`${url}/notes`, body);
      statuses.push(status);
      // A denial carries no state: start a new chain with the next charge.
      previous = isDenial(answer) ? undefined : (answer as { requestState?: string }).requestState;
    }
    expect({ created, statuses: statuses.slice(0, 3) }).toEqual({
      created: 2,
      statuses: [201, 201, 200],
    });
  });
});

describe('an MCP endpoint (@LimitMcpMessages) issues states in JSON-RPC input_required responses', () => {
  const runs = { ask: 0, bare: 0 };
  const issued = new Set<string>();

  interface ToolCall {
    readonly id?: unknown;
    readonly params?: { readonly requestState?: string; readonly echo?: unknown };
  }

  @Controller('rpc')
  @LimitMcpMessages()
  @RateLimitOptions({ multiRoundTrip: true })
  class JsonRpcEndpoint {
    /** Asks for input first; the retry carrying the state it issued runs. 1 per minute. */
    @Post('ask')
    @HttpCode(200)
    @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 }))
    ask(@Body() body: ToolCall) {
      runs.ask++;
      const state = body.params?.requestState;
      if (state !== undefined && issued.has(state)) {
        return {
          jsonrpc: '2.0',
          id: body.id,
          result: { content: [{ type: 'text', text: 'done' }] },
        };
      }
      const requestState = `server-${randomUUID()}`;
      issued.add(requestState);
      return {
        jsonrpc: '2.0',
        id: body.id,
        result: { resultType: 'input_required', requestState, inputRequests: {} },
      };
    }

    /** Answers what it was sent, bare: not a JSON-RPC response. 2 per minute. */
    @Post('bare')
    @HttpCode(200)
    @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
    bare(@Body() body: ToolCall) {
      runs.bare++;
      return body.params?.echo ?? {};
    }
  }

  let app: INestApplication;
  let url: string;
  beforeAll(async () => {
    ({ app, url } = await start(JsonRpcEndpoint, true));
  });
  afterAll(async () => {
    await app?.close();
  });

  const toolCall = (id: number, params: Record<string, unknown>) => ({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name: 'x', arguments: {}, ...params },
  });

  test('the retry carrying the state a JSON-RPC input_required response issued is not charged again', async () => {
    const first = await post(`${url}/rpc/ask`, toolCall(1, {}));
    const requestState = (first.answer as { result?: { requestState?: string } }).result
      ?.requestState;
    expect(requestState).toMatch(/^server-/);
    const retry = await post(`${url}/rpc/ask`, toolCall(2, { requestState }));
    expect(retry.answer).toMatchObject({ result: { content: [{ text: 'done' }] } });
    // The logical call is over: a new one is charged, and the limit of 1 is spent.
    expect(isDenial((await post(`${url}/rpc/ask`, toolCall(3, {}))).answer)).toBe(true);
    expect(runs.ask).toBe(2);
  });

  test('an answer that is not a JSON-RPC response issues nothing, even shaped like input_required', async () => {
    const echo = { resultType: 'input_required', requestState: 'mine' };
    for (let id = 1; id <= 12; id++) {
      const params = id === 1 ? { echo } : { echo, requestState: 'mine' };
      if (isDenial((await post(`${url}/rpc/bare`, toolCall(id, params))).answer)) break;
    }
    expect(runs.bare).toBe(2);
  });
});

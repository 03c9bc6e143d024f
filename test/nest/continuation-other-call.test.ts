// The retry of a multi round-trip call is the request that was charged: the same method and the same
// tool, prompt or resource, not only the same arguments. Found by attack review 11: on a JSON-RPC
// MCP endpoint (@LimitMcpMessages, multiRoundTrip), one route serves every tool, and the retry was
// bound to the subject, the route and the arguments only. A state issued by a cheap tool (cost 1)
// was claimed by a tools/call of an expensive one (cost 10) with the same arguments: 10 exports ran
// under a budget of 10 units, the cost of one.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Body, Controller, HttpCode, Module, Post, type INestApplication } from '@nestjs/common';
import {
  FixedWindowRateLimit,
  LimitMcpMessages,
  McpRateLimitModule,
  RateLimit,
  RateLimitCost,
  RateLimitOptions,
  type McpCall,
} from '../../src/index.js';
import { serveHttp } from '../fixtures/http-app.js';

interface JsonRpcRequest {
  readonly id?: number;
  readonly method?: string;
  readonly params?: { readonly name?: string; readonly requestState?: string };
}

let exported = 0;

@Controller('rpc')
@LimitMcpMessages()
@RateLimitOptions({ multiRoundTrip: true })
class JsonRpcEndpoint {
  /** `confirm` asks for input first (cost 1); `export` runs at once (cost 10). 10 units a minute. */
  @Post()
  @HttpCode(200)
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 10, perSeconds: 60 }))
  @RateLimitCost((_args: unknown, call: McpCall) => (call.target === 'export' ? 10 : 1))
  handle(@Body() body: JsonRpcRequest) {
    const { name, requestState } = body.params ?? {};
    if (name === 'export') {
      exported++;
      return { jsonrpc: '2.0', id: body.id, result: { content: [{ type: 'text', text: 'ok' }] } };
    }
    const result =
      requestState === undefined
        ? { resultType: 'input_required', requestState: `s-${randomUUID()}`, inputRequests: {} }
        : { content: [{ type: 'text', text: 'confirmed' }] };
    return { jsonrpc: '2.0', id: body.id, result };
  }
}

@Module({
  imports: [
    McpRateLimitModule.forRoot({
      messageLimit: { limits: [new FixedWindowRateLimit({ maxCalls: 1000, perSeconds: 60 })] },
    }),
  ],
  controllers: [JsonRpcEndpoint],
})
class AppModule {}

let app: INestApplication;
let url: string;

beforeAll(async () => {
  ({ app, url } = await serveHttp(AppModule, 'rpc'));
});

afterAll(async () => {
  await app?.close();
});

async function call(id: number, name: string, requestState?: string): Promise<unknown> {
  const params = { name, arguments: {}, ...(requestState === undefined ? {} : { requestState }) };
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params }),
  });
  return response.json();
}

describe("a state issued for one tool's call, claimed by another tool's call on the same route", () => {
  test('an export (cost 10) retried with the state of a confirm (cost 1) is charged as itself', async () => {
    for (let id = 1; id <= 20; id += 2) {
      const first = (await call(id, 'confirm')) as { result?: { requestState?: string } };
      const state = first.result?.requestState;
      if (state === undefined) break;
      await call(id + 1, 'export', state);
    }
    // Observed before the fix: 10 exports for 10 units, each export worth 10.
    expect(exported).toBeLessThanOrEqual(1);
  });
});

// Found by the same review: a tasks request to an MCP endpoint route is a poll, not charged to the
// route's limits (its task's tools/call was), and the state of an input_required answer to it was
// recorded all the same, carrying no charge and so no digest: a tools/call of any tool with any
// arguments claimed it for free. Each free poll bought a free call: 5 runs under a limit of 1.
describe('a state issued in the answer to an uncharged tasks poll', () => {
  let runs = 0;

  @Controller('tasks-rpc')
  @LimitMcpMessages()
  @RateLimitOptions({ multiRoundTrip: true })
  class TaskEndpoint {
    @Post()
    @HttpCode(200)
    @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 }))
    handle(@Body() body: JsonRpcRequest) {
      if (body.method === 'tasks/result') {
        // The task's tools/call waits for input: its result asks for it.
        const result = { resultType: 'input_required', requestState: `t-${randomUUID()}` };
        return { jsonrpc: '2.0', id: body.id, result: { ...result, inputRequests: {} } };
      }
      runs++;
      return { jsonrpc: '2.0', id: body.id, result: { content: [{ type: 'text', text: 'ran' }] } };
    }
  }

  @Module({
    imports: [
      McpRateLimitModule.forRoot({
        messageLimit: { limits: [new FixedWindowRateLimit({ maxCalls: 1000, perSeconds: 60 })] },
      }),
    ],
    controllers: [TaskEndpoint],
  })
  class TaskModule {}

  let taskApp: INestApplication;
  let taskUrl: string;
  beforeAll(async () => {
    ({ app: taskApp, url: taskUrl } = await serveHttp(TaskModule, 'tasks-rpc'));
  });
  afterAll(async () => {
    await taskApp?.close();
  });

  const send = async (body: unknown): Promise<unknown> =>
    (
      await fetch(taskUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    ).json();

  test('is no continuation: the tools/call carrying it is charged', async () => {
    for (let id = 1; id <= 10; id += 2) {
      const poll = (await send({
        jsonrpc: '2.0',
        id,
        method: 'tasks/result',
        params: { taskId: 'any' },
      })) as { result?: { requestState?: string } };
      const requestState = poll.result?.requestState;
      const params = { name: 'work', arguments: { n: id }, requestState };
      await send({ jsonrpc: '2.0', id: id + 1, method: 'tools/call', params });
    }
    // Observed before the fix: 5 runs under a limit of 1 a minute.
    expect(runs).toBeLessThanOrEqual(1);
  });
});

// Found by the same review, the other way round: on a JSON-RPC route, a call without `arguments`
// (resources/read) had its whole `params` as its arguments, the retry's `requestState` and
// `inputResponses` included, so its retry never matched the charged round and paid again: a
// logical read of a limit of 2 a minute cost 2, and the second read was denied.
describe('the retry of a resources/read on a JSON-RPC route', () => {
  let reads = 0;

  @Controller('resources-rpc')
  @LimitMcpMessages()
  @RateLimitOptions({ multiRoundTrip: true })
  class ResourceEndpoint {
    @Post()
    @HttpCode(200)
    @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
    handle(@Body() body: JsonRpcRequest) {
      if (body.params?.requestState === undefined) {
        const result = { resultType: 'input_required', requestState: `r-${randomUUID()}` };
        return { jsonrpc: '2.0', id: body.id, result: { ...result, inputRequests: {} } };
      }
      reads++;
      const contents = [{ uri: 'demo://report', text: 'report' }];
      return { jsonrpc: '2.0', id: body.id, result: { contents } };
    }
  }

  @Module({
    imports: [
      McpRateLimitModule.forRoot({
        messageLimit: { limits: [new FixedWindowRateLimit({ maxCalls: 1000, perSeconds: 60 })] },
      }),
    ],
    controllers: [ResourceEndpoint],
  })
  class ResourceModule {}

  let resourceApp: INestApplication;
  let resourceUrl: string;
  beforeAll(async () => {
    ({ app: resourceApp, url: resourceUrl } = await serveHttp(ResourceModule, 'resources-rpc'));
  });
  afterAll(async () => {
    await resourceApp?.close();
  });

  const read = async (id: number, params: Record<string, unknown>): Promise<unknown> =>
    (
      await fetch(resourceUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id, method: 'resources/read', params }),
      })
    ).json();

  test('is charged once: two logical reads under a limit of 2', async () => {
    for (let id = 1; id <= 4; id += 2) {
      const first = (await read(id, { uri: 'demo://report' })) as {
        result?: { requestState?: string };
      };
      const requestState = first.result?.requestState;
      if (requestState === undefined) break;
      const inputResponses = { ok: { action: 'accept', content: { ok: true } } };
      await read(id + 1, { uri: 'demo://report', requestState, inputResponses });
    }
    expect(reads).toBe(2);
  });
});

// The Mcp-Method / Mcp-Name headers name a JSON-RPC route's call only when its body has no such
// field; not when the body has one the guard cannot read. Found by the protocol attack review: a
// body whose params.name was no string (["export"]) took its target from the Mcp-Name header, the
// client's word, while a dispatcher that looks tools up by key (`tools[params.name]`, which turns
// ["export"] into "export") ran the tool the body named. The client chose the target the route's
// cost, limitByContext choice and multi round-trip binding saw: a header naming the cheap tool made
// each export cost 1 unit instead of 10, and the state of a cheap call continued an export for free.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
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
  readonly params?: { readonly name?: string; readonly requestState?: string };
}

let exported = 0;

/** The route's tools, looked up by key as many dispatchers do. */
const TOOLS: Record<string, (requestState: string | undefined) => unknown> = {
  export: () => {
    exported++;
    return { content: [{ type: 'text', text: 'exported' }] };
  },
  confirm: (requestState) =>
    requestState === undefined
      ? { resultType: 'input_required', requestState: `s-${randomUUID()}`, inputRequests: {} }
      : { content: [{ type: 'text', text: 'confirmed' }] },
};

@Controller('rpc')
@LimitMcpMessages()
@RateLimitOptions({ multiRoundTrip: true })
class JsonRpcEndpoint {
  /** 10 units a minute: `confirm` costs 1, anything else (`export`, or a tool not known) 10. */
  @Post()
  @HttpCode(200)
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 10, perSeconds: 3600 }))
  @RateLimitCost((_args: unknown, call: McpCall) => (call.target === 'confirm' ? 1 : 10))
  handle(@Body() body: JsonRpcRequest) {
    const tool = TOOLS[body.params?.name as string];
    const result =
      tool === undefined ? { isError: true, content: [] } : tool(body.params?.requestState);
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

beforeEach(async () => {
  exported = 0;
  ({ app, url } = await serveHttp(AppModule, 'rpc'));
});

afterEach(async () => {
  await app?.close();
});

async function send(
  id: number,
  name: unknown,
  headers: Record<string, string>,
  requestState?: string,
): Promise<{ result?: { requestState?: string } }> {
  const params = { name, arguments: {}, ...(requestState === undefined ? {} : { requestState }) };
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params }),
  });
  return (await response.json()) as { result?: { requestState?: string } };
}

const namesConfirm = { 'mcp-method': 'tools/call', 'mcp-name': 'confirm' };

describe('a body whose params.name is no string, with an Mcp-Name header naming a cheap tool', () => {
  test('is not charged as the tool the header names (one export of 10 units an hour)', async () => {
    for (let id = 1; id <= 12; id++) await send(id, ['export'], namesConfirm);
    // Observed before the fix: 10 exports, each charged as a confirm (1 unit).
    expect(exported).toBe(1);
  });

  test('does not continue the cheap call whose state it carries: it pays as itself', async () => {
    for (let id = 1; id <= 24; id += 2) {
      const first = await send(id, 'confirm', {});
      const state = first.result?.requestState;
      if (state === undefined) break;
      await send(id + 1, ['export'], namesConfirm, state);
    }
    // Observed before the fix: 10 exports for 10 units, each a free continuation of a confirm.
    expect(exported).toBeLessThanOrEqual(1);
  });
});

// Found by attack review 7: behind a proxy that writes the client's port into X-Forwarded-For
// (Azure App Service and IIS ARR send `X-Forwarded-For: 203.0.113.7:51234`), Express's `request.ip`
// (trust proxy on) is "203.0.113.7:51234". normalizeIp kept anything that was not an IP address
// unchanged, so the anonymous caller's subject carried its ephemeral source port: a new connection
// (a new port) was a new subject with a fresh quota. The address is now keyed without its port.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Controller, Module, type INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import {
  McpController,
  McpHttpControllerFor,
  StreamableHttpTransport,
  Tool,
} from '@rekog/mcp-nest';
import { FixedWindowRateLimit, McpRateLimitModule, RateLimit } from '../../src/index.js';
import { serveMcpNest } from '../fixtures/mcp-nest-server.js';

let runs = 0;

@McpController()
class Tools {
  @Tool({ name: 'lookup', description: '2 per minute per caller' })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  lookup() {
    runs++;
    return 'found';
  }
}

let app: INestApplication;
let url: string;

beforeAll(async () => {
  const transport = new StreamableHttpTransport();
  @Controller('mcp')
  class McpEndpoint extends McpHttpControllerFor(transport) {}
  @Module({ imports: [McpRateLimitModule.forRoot()], controllers: [McpEndpoint, Tools] })
  class AppModule {}
  let endpoint: URL;
  ({ app, url: endpoint } = await serveMcpNest(AppModule, transport, 'behind-proxy', {
    // The proxy in front of the app is on this host: trust it, as its documentation says to.
    configure: (nest) => (nest as NestExpressApplication).set('trust proxy', 'loopback'),
  }));
  url = endpoint.href;
});

afterAll(async () => {
  await app?.close();
});

/** One tools/call as the proxy forwards it: the client's address, with its source port. */
async function callFrom(forwardedFor: string, id: number): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
      'x-forwarded-for': forwardedFor,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name: 'lookup', arguments: {} },
    }),
  });
  return response.json();
}

function deniedCount(bodies: unknown[]): number {
  return bodies.filter((body) => (body as { error?: { code?: number } }).error?.code === -32005)
    .length;
}

describe('an anonymous client behind a proxy that appends its source port to X-Forwarded-For', () => {
  test('is one subject: its 2 calls a minute, not 2 per connection', async () => {
    const bodies: unknown[] = [];
    // The same client, each call on a new connection (a new source port).
    for (let call = 0; call < 6; call++)
      bodies.push(await callFrom(`203.0.113.7:${51000 + call}`, call));
    expect({ runs, denied: deniedCount(bodies) }).toEqual({ runs: 2, denied: 4 });
  });

  test('an IPv6 client in brackets with a port likewise, and another client keeps its own quota', async () => {
    runs = 0;
    const bodies: unknown[] = [];
    for (let call = 0; call < 4; call++)
      bodies.push(await callFrom(`[2001:db8::1]:${443 + call}`, call));
    expect({ runs, denied: deniedCount(bodies) }).toEqual({ runs: 2, denied: 2 });
    const other = await callFrom('198.51.100.2:6000', 9);
    expect(other).toEqual(expect.objectContaining({ result: expect.anything() }));
  });
});

// Issue 16 §2 over real sockets: a client that sends a complete tools/call and resets its
// connection at once can no longer be identified by its address. Its call must not run under a
// bucket of its own (or one shared by strangers): denied by default, shared only when asked.
import 'reflect-metadata';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, test } from '@jest/globals';
import {
  Controller,
  Injectable,
  Module,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
  UseGuards,
} from '@nestjs/common';
import { serveMcpNest } from '../fixtures/mcp-nest-server.js';
import {
  McpController,
  McpHttpControllerFor,
  StreamableHttpTransport,
  Tool,
} from '@rekog/mcp-nest';
import {
  FixedWindowRateLimit,
  McpRateLimitModule,
  RateLimit,
  type RateLimitEvent,
  type UnidentifiedCallers,
} from '../../src/index.js';

/**
 * A slow step before the limit (a permission check against another service, say), applied to the
 * tools' class: by the time the rate-limit guard asks who is calling, the client's connection is
 * gone, so every call below meets a reset socket.
 */
@Injectable()
class SlowPermissionGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const mcpContext = context.switchToRpc().getContext<{ getRawRequest(): unknown }>();
    const socket = (mcpContext.getRawRequest() as { socket: Socket }).socket;
    if (!socket.destroyed) await once(socket, 'close');
    return true;
  }
}

let runs = 0;

@McpController()
@UseGuards(SlowPermissionGuard)
class CountingTools {
  @Tool({ name: 'count', description: '100 per minute' })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 100, perSeconds: 60 }))
  count() {
    runs++;
    return 'counted';
  }
}

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  runs = 0;
});

async function serve(
  unidentified: UnidentifiedCallers | undefined,
  events: RateLimitEvent[],
): Promise<number> {
  const transport = new StreamableHttpTransport();
  @Controller('mcp')
  class McpEndpoint extends McpHttpControllerFor(transport) {}
  @Module({
    imports: [
      McpRateLimitModule.forRoot({
        ...(unidentified === undefined ? {} : { unidentified }),
        onDecision: (event) => events.push(event),
      }),
    ],
    controllers: [McpEndpoint, CountingTools],
    providers: [SlowPermissionGuard],
  })
  class AppModule {}
  const { app, url } = await serveMcpNest(AppModule, transport, 'resets');
  apps.push(app);
  return Number(url.port);
}

/** A complete 2026-07-28 tools/call on a raw socket, then a TCP reset. */
async function callAndReset(port: number, id: number): Promise<void> {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: {
      name: 'count',
      arguments: {},
      _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientInfo': { name: 'resetter', version: '1.0.0' },
        'io.modelcontextprotocol/clientCapabilities': {},
      },
    },
  });
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(
    [
      'POST /mcp HTTP/1.1',
      `Host: 127.0.0.1:${port}`,
      'Content-Type: application/json',
      'Accept: application/json, text/event-stream',
      'Mcp-Protocol-Version: 2026-07-28',
      'Mcp-Method: tools/call',
      'Mcp-Name: count',
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n'),
  );
  // Let the server read the request before the reset.
  await new Promise((resolve) => setImmediate(resolve));
  socket.resetAndDestroy();
  await once(socket, 'close');
}

/** Until the server has decided `count` calls (it works on after the client is gone). */
async function decided(events: RateLimitEvent[], count: number): Promise<void> {
  while (events.length < count) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('a caller we cannot identify', () => {
  test('is denied by default: the tool never runs', async () => {
    const events: RateLimitEvent[] = [];
    const port = await serve(undefined, events);
    for (let call = 1; call <= 5; call++) await callAndReset(port, call);
    await decided(events, 5);
    expect(runs).toBe(0);
    expect(events.map((event) => [event.type, event.subject, event.limit])).toEqual(
      new Array(5).fill(['denied', 'unidentified', 'unidentified caller (option "unidentified")']),
    );
  });

  test("with unidentified: 'shared', such callers share one bucket", async () => {
    const events: RateLimitEvent[] = [];
    const port = await serve('shared', events);
    for (let call = 1; call <= 3; call++) await callAndReset(port, call);
    await decided(events, 3);
    expect(runs).toBe(3);
    expect(new Set(events.map((event) => `${event.type} ${event.subject}`))).toEqual(
      new Set(['allowed unidentified']),
    );
  });
});

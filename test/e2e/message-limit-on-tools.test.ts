// Found by attack review 5: @LimitMcpMessages() on an MCP-Nest tool class (rather than on the HTTP
// endpoint) booted silently and limited nothing: the guard applies the message-level limit in the
// 'http' context only, and a tool call is an 'rpc' call (6 of 6 tool calls ran under a limit of 2
// messages per minute). What must hold: bootstrap refuses @LimitMcpMessages() on anything that is
// not an HTTP route, naming the handler and the fix.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Controller, Module, type INestApplication } from '@nestjs/common';
import {
  McpController,
  McpHttpControllerFor,
  StreamableHttpTransport,
  Tool,
} from '@rekog/mcp-nest';
import { FixedWindowRateLimit, LimitMcpMessages, McpRateLimitModule } from '../../src/index.js';
import { serveMcpNest } from '../fixtures/mcp-nest-server.js';

@McpController()
@LimitMcpMessages()
class ChattyTools {
  @Tool({ name: 'chat', description: 'Counted by the message-level limit' })
  chat() {
    return 'hi';
  }
}

let app: INestApplication | undefined;
let client: Client | undefined;
let bootError: unknown;

beforeAll(async () => {
  const transport = new StreamableHttpTransport();
  @Controller('mcp')
  class McpEndpoint extends McpHttpControllerFor(transport) {}
  @Module({
    imports: [
      McpRateLimitModule.forRoot({
        messageLimit: { limits: [new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 })] },
      }),
    ],
    controllers: [McpEndpoint, ChattyTools],
  })
  class AppModule {}
  try {
    let url: URL;
    ({ app, url } = await serveMcpNest(AppModule, transport, 'chatty', { abortOnError: false }));
    client = new Client({ name: 'attack5', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(url));
  } catch (error) {
    bootError = error;
  }
});

afterAll(async () => {
  await client?.close();
  await app?.close();
});

describe('@LimitMcpMessages() on a tool class', () => {
  test('bootstrap refuses it, naming the tool and the fix', () => {
    expect(String(bootError)).toMatch(
      /ChattyTools\.chat: @LimitMcpMessages\(\) on its class applies to this handler, which is not an HTTP route .*Fix: put @LimitMcpMessages\(\) on the MCP endpoint's controller/,
    );
  });
});

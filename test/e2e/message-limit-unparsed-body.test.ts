// Found by attack review 7: the message-level limit counts the JSON-RPC requests of a POST by
// reading `request.body`. When Nest did not parse the body (`NestFactory.create(..., { bodyParser:
// false })`, common in apps that verify raw webhook bodies), MCP-Nest reads and parses the stream
// itself and the SDK serves a JSON-RPC batch of up to 100 requests, while the limit saw
// `body === undefined` and counted ONE message. Such a POST cannot be counted: it is now refused
// with an error that says to keep the body parser on.
import 'reflect-metadata';
import { afterEach, describe, expect, test } from '@jest/globals';
import { Controller, Module, type INestApplication, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  McpController,
  McpHttpControllerFor,
  McpStrategy,
  StreamableHttpTransport,
  Tool,
} from '@rekog/mcp-nest';
import { FixedWindowRateLimit, LimitMcpMessages, McpRateLimitModule } from '../../src/index.js';

let runs = 0;

@McpController()
class FreeTools {
  @Tool({ name: 'free', description: 'no limit of its own; the endpoint counts messages' })
  free() {
    runs++;
    return 'ran';
  }
}

const errors: string[] = [];
const logger: LoggerService = {
  log: () => undefined,
  warn: () => undefined,
  error: (message: unknown, stack?: unknown) => errors.push(`${String(message)} ${String(stack)}`),
};

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function start(): Promise<string> {
  const transport = new StreamableHttpTransport();
  @Controller('mcp')
  @LimitMcpMessages()
  class McpEndpoint extends McpHttpControllerFor(transport) {}
  @Module({
    imports: [
      McpRateLimitModule.forRoot({
        messageLimit: { limits: [new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 60 })] },
      }),
    ],
    controllers: [McpEndpoint, FreeTools],
  })
  class AppModule {}
  const app = await NestFactory.create(AppModule, {
    logger,
    abortOnError: false,
    bodyParser: false,
  });
  apps.push(app);
  const strategy = new McpStrategy({ name: 'raw-body', version: '1.0.0', transports: [transport] });
  strategy.setHttpAdapter(app.getHttpAdapter());
  app.connectMicroservice({ strategy });
  await app.startAllMicroservices();
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return `http://127.0.0.1:${port}/mcp`;
}

function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
    },
    body: JSON.stringify(body),
  });
}

function toolsCall(id: number) {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'free', arguments: {} } };
}

describe('the message-level limit on an app whose body parser is off', () => {
  test('refuses a POSTed batch it cannot count, saying to keep the body parser on: no call runs', async () => {
    const url = await start();
    const batch = Array.from({ length: 10 }, (_, index) => toolsCall(index + 1));
    const response = await post(url, batch);
    await response.text();
    expect({ status: response.status, runs }).toEqual({ status: 500, runs: 0 });
    expect(errors.join('\n')).toMatch(/Keep Nest's JSON body parser on for the MCP endpoint/);
  });

  test('refuses a single POSTed request too, rather than counting it as one', async () => {
    const url = await start();
    for (let id = 1; id <= 4; id++) {
      const response = await post(url, toolsCall(id));
      await response.text();
      expect(response.status).toBe(500);
    }
    expect(runs).toBe(0);
  });
});

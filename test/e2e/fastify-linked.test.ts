// On Fastify, MCP-Nest tools are keyed by the user an auth guard set on the /mcp endpoint, whatever
// guards run there. Found by attack review 5: with the auth guard on the endpoint, @RateLimit() on
// the tools and no rate-limit guard on /mcp (no @LimitMcpMessages(), registerGlobally or
// @UseMcpRateLimit()), every tool call was keyed by the socket's address (ip:127.0.0.1): users
// behind one address shared one quota, and one user over N addresses got N.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import {
  Controller,
  Injectable,
  Module,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  McpController,
  McpHttpControllerFor,
  McpStrategy,
  StreamableHttpTransport,
  Tool,
} from '@rekog/mcp-nest';
import {
  FixedWindowRateLimit,
  McpRateLimitModule,
  RateLimit,
  type RateLimitEvent,
} from '../../src/index.js';

/** Authenticates `Bearer <user>` on the endpoint (as Passport's AuthGuard would). */
@Injectable()
class BearerAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{
      headers: Record<string, string | undefined>;
      user?: unknown;
    }>();
    const match = /^Bearer ([\w-]+)$/.exec(request.headers.authorization ?? '');
    if (match === null) return false;
    request.user = { id: match[1] };
    return true;
  }
}

@McpController()
class Tools {
  @Tool({ name: 'search', description: '2 per minute per user' })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  search() {
    return 'found';
  }
}

const events: RateLimitEvent[] = [];
let app: INestApplication;
let url: URL;
const clients: Client[] = [];

beforeAll(async () => {
  const transport = new StreamableHttpTransport();
  @Controller('mcp')
  @UseGuards(BearerAuthGuard)
  class McpEndpoint extends McpHttpControllerFor(transport) {}
  @Module({
    imports: [McpRateLimitModule.forRoot({ onDecision: (event) => events.push(event) })],
    controllers: [McpEndpoint, Tools],
    providers: [BearerAuthGuard],
  })
  class AppModule {}
  app = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter(), {
    logger: false,
  });
  const strategy = new McpStrategy({ name: 'f', version: '1.0.0', transports: [transport] });
  strategy.setHttpAdapter(app.getHttpAdapter());
  app.connectMicroservice({ strategy });
  await app.startAllMicroservices();
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  url = new URL(`http://127.0.0.1:${port}/mcp`);
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await app?.close();
});

async function connect(user: string): Promise<Client> {
  const client = new Client({ name: 'fastify-linked', version: '1.0.0' });
  const headers = { authorization: `Bearer ${user}` };
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  clients.push(client);
  return client;
}

describe('Fastify, auth guard on /mcp, @RateLimit() on the tool, nothing else', () => {
  test('each authenticated user has a quota of their own (keyed user:<id>)', async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    await alice.callTool({ name: 'search', arguments: {} });
    await alice.callTool({ name: 'search', arguments: {} });
    // Bob has not called yet: his first call must be admitted.
    const outcome = await bob.callTool({ name: 'search', arguments: {} }).then(
      () => 'admitted',
      (error: { code?: number }) => `denied ${error.code}`,
    );
    const subjects = events.map((event) => `${event.subject} ${event.type}`);
    expect({ outcome, subjects }).toEqual({
      outcome: 'admitted',
      subjects: ['user:alice allowed', 'user:alice allowed', 'user:bob allowed'],
    });
  });
});

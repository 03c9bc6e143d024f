// On Fastify, a user set by a Nest auth middleware keys the tool calls. Nest middleware gets the
// Node request there, so `user` lands on `request.raw`, not on Fastify's request. Found by attack
// review 6: once every Node request was linked to Fastify's (framework-requests.ts), tool calls were
// keyed by Fastify's request alone, and every user shared the socket address's quota.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import {
  Controller,
  Injectable,
  Module,
  type INestApplication,
  type MiddlewareConsumer,
  type NestMiddleware,
  type NestModule,
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

/** Authenticates `Bearer <user>` as a Nest middleware (on Fastify: the Node request). */
@Injectable()
class BearerAuthMiddleware implements NestMiddleware {
  use(
    request: { headers: Record<string, string | undefined>; user?: unknown },
    response: { statusCode: number; end(): void },
    next: () => void,
  ): void {
    const match = /^Bearer ([\w-]+)$/.exec(request.headers.authorization ?? '');
    if (match === null) {
      response.statusCode = 401;
      response.end();
      return;
    }
    request.user = { id: match[1] };
    next();
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
  class McpEndpoint extends McpHttpControllerFor(transport) {}
  @Module({
    imports: [McpRateLimitModule.forRoot({ onDecision: (event) => events.push(event) })],
    controllers: [McpEndpoint, Tools],
  })
  class AppModule implements NestModule {
    configure(consumer: MiddlewareConsumer): void {
      consumer.apply(BearerAuthMiddleware).forRoutes(McpEndpoint);
    }
  }
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
  const client = new Client({ name: 'fastify-middleware', version: '1.0.0' });
  const headers = { authorization: `Bearer ${user}` };
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  clients.push(client);
  return client;
}

describe('Fastify, auth middleware on /mcp, @RateLimit() on the tool', () => {
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

// On Fastify, MCP-Nest tools are keyed by the user the app authenticated on /mcp, whatever guards
// run there. Found by attack reviews 5 and 6: with an auth guard on the endpoint, @RateLimit() on
// the tools and no rate-limit guard on /mcp (no @LimitMcpMessages(), registerGlobally or
// @UseMcpRateLimit()), every tool call was keyed by the socket's address (ip:127.0.0.1); once every
// Node request was linked to Fastify's, a user set by a Nest middleware (on the Node request, which
// is what middleware gets on Fastify) was missed the same way. Users behind one address shared one
// quota, and one user over N addresses got N.
import 'reflect-metadata';
import { afterEach, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import {
  Controller,
  Injectable,
  Module,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
  type MiddlewareConsumer,
  type NestMiddleware,
  type NestModule,
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

/** One Fastify app per way of authenticating: a guard on /mcp, or a Nest middleware. */
async function serve(auth: 'guard' | 'middleware'): Promise<{ app: INestApplication; url: URL }> {
  const transport = new StreamableHttpTransport();
  @Controller('mcp')
  @UseGuards(BearerAuthGuard)
  class GuardedEndpoint extends McpHttpControllerFor(transport) {}
  @Controller('mcp')
  class PlainEndpoint extends McpHttpControllerFor(transport) {}
  const endpoint = auth === 'guard' ? GuardedEndpoint : PlainEndpoint;
  @Module({
    imports: [McpRateLimitModule.forRoot({ onDecision: (event) => events.push(event) })],
    controllers: [endpoint, Tools],
    providers: [BearerAuthGuard],
  })
  class AppModule implements NestModule {
    configure(consumer: MiddlewareConsumer): void {
      if (auth === 'middleware') consumer.apply(BearerAuthMiddleware).forRoutes(endpoint);
    }
  }
  const app = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter(), {
    logger: false,
  });
  const strategy = new McpStrategy({ name: 'f', version: '1.0.0', transports: [transport] });
  strategy.setHttpAdapter(app.getHttpAdapter());
  app.connectMicroservice({ strategy });
  await app.startAllMicroservices();
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return { app, url: new URL(`http://127.0.0.1:${port}/mcp`) };
}

const events: RateLimitEvent[] = [];
const apps: INestApplication[] = [];
const clients: Client[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(apps.splice(0).map((app) => app.close()));
  events.length = 0;
});

async function connect(url: URL, user: string): Promise<Client> {
  const client = new Client({ name: 'fastify-linked', version: '1.0.0' });
  const headers = { authorization: `Bearer ${user}` };
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  clients.push(client);
  return client;
}

describe('Fastify, @RateLimit() on the tool, no rate-limit guard on /mcp', () => {
  test.each(['guard', 'middleware'] as const)(
    'authenticated by a %s: each user has a quota of their own (keyed user:<id>)',
    async (auth) => {
      const { app, url } = await serve(auth);
      apps.push(app);
      const alice = await connect(url, 'alice');
      const bob = await connect(url, 'bob');
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
    },
  );
});

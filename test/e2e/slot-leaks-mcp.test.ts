// Found by attack review 5 (MCP-Nest variant of test/nest/slot-leaks.test.ts): an MCP-Nest tool
// whose class holds a ConcurrencyLimit and whose method has its own guard (a scope check) leaked a
// slot on every call that guard refused: the rate-limit guard (bound on the class) took the slot,
// the library's interceptor never ran. What must hold: a call its guard refused holds no slot once
// answered, so the next call runs. Official SDK client, real app.
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
  type INestApplication,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Payload } from '@nestjs/microservices';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import {
  McpController,
  McpHttpControllerFor,
  McpStrategy,
  StreamableHttpTransport,
  Tool,
} from '@rekog/mcp-nest';
import { z } from 'zod';
import { ConcurrencyLimit, McpRateLimitModule, RateLimit } from '../../src/index.js';
import { serveMcpNest } from '../fixtures/mcp-nest-server.js';

/** A scope check on the tool: a call for the "admin" project is refused. */
@Injectable()
class ProjectScopeGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToRpc().getData<{ project: string }>().project !== 'admin';
  }
}

@McpController()
@RateLimit(new ConcurrencyLimit({ maxConcurrent: 1 }))
class ProjectTools {
  @Tool({
    name: 'build',
    description: 'Builds a project: 1 at a time per caller',
    parameters: z.object({ project: z.string() }),
  })
  @UseGuards(ProjectScopeGuard)
  build(@Payload() { project }: { project: string }) {
    return `built ${project}`;
  }
}

let app: INestApplication;
let client: Client;

/**
 * Serves the tools on `platform`. No rate-limit guard on the endpoint: on Fastify the module links
 * the Node request MCP-Nest hands the tool to Fastify's reply as each request arrives.
 */
async function serve(platform: 'express' | 'fastify'): Promise<void> {
  const transport = new StreamableHttpTransport();
  @Controller('mcp')
  class McpEndpoint extends McpHttpControllerFor(transport) {}
  @Module({
    imports: [McpRateLimitModule.forRoot()],
    controllers: [McpEndpoint, ProjectTools],
    providers: [ProjectScopeGuard],
  })
  class AppModule {}
  let url: URL;
  if (platform === 'express') {
    ({ app, url } = await serveMcpNest(AppModule, transport, 'projects'));
  } else {
    app = await NestFactory.create(AppModule, new FastifyAdapter(), { logger: false });
    const strategy = new McpStrategy({
      name: 'projects',
      version: '1.0.0',
      transports: [transport],
    });
    strategy.setHttpAdapter(app.getHttpAdapter());
    app.connectMicroservice({ strategy });
    await app.startAllMicroservices();
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as { port: number };
    url = new URL(`http://127.0.0.1:${port}/mcp`);
  }
  client = new Client({ name: 'attack5', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(url));
}

afterEach(async () => {
  await client?.close();
  await app?.close();
});

const outcome = (project: string) =>
  client.callTool({ name: 'build', arguments: { project } }).then(
    (result) => (result as { content: { text: string }[] }).content[0]?.text,
    (error: { code?: number }) => `error ${error.code}`,
  );

describe('a ConcurrencyLimit on an MCP-Nest tool class, a guard on the tool', () => {
  test.each(['express', 'fastify'] as const)(
    'a call the tool guard refused holds no slot: the next call runs (%s)',
    async (platform) => {
      await serve(platform);
      const refused = await outcome('admin');
      expect(refused).not.toContain('built admin');
      // Nothing is running now. (MCP-Nest answers a string result JSON-encoded.)
      expect(await outcome('web')).toBe('"built web"');
    },
  );
});

import 'reflect-metadata';
import type { INestApplication, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule, type SampleAppOptions } from './app.module.js';
import { mcpStrategy } from './mcp.js';

export interface StartOptions extends SampleAppOptions {
  /** TCP port; 0 picks a free one. */
  readonly port: number;
  /** Interface to listen on (default: all). */
  readonly host?: string;
  readonly logLevels?: LogLevel[] | false;
}

export interface StartedSampleApp {
  readonly app: INestApplication;
  /** The MCP endpoint, e.g. `http://localhost:3000/mcp`. */
  readonly mcpUrl: string;
}

/** Create the Nest app, connect the MCP server to it, and listen. */
export async function startSampleApp(options: StartOptions): Promise<StartedSampleApp> {
  const app = await NestFactory.create(AppModule.forRoot(options), {
    logger: options.logLevels ?? ['error', 'warn'],
  });
  mcpStrategy.setHttpAdapter(app.getHttpAdapter());
  // inheritAppConfig: global guards, interceptors and filters also reach the MCP handlers.
  app.connectMicroservice({ strategy: mcpStrategy }, { inheritAppConfig: true });
  app.enableShutdownHooks();
  // MCP routes must be mounted before the server accepts connections.
  await app.startAllMicroservices();
  if (options.host === undefined) await app.listen(options.port);
  else await app.listen(options.port, options.host);
  const address = app.getHttpServer().address() as { port: number };
  const host =
    options.host === undefined || options.host === '0.0.0.0' ? 'localhost' : options.host;
  return { app, mcpUrl: `http://${host}:${address.port}/mcp` };
}

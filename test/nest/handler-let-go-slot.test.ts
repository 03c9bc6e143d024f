// Found by attack review 13: a ConcurrencyLimit slot was freed as soon as Nest stopped listening
// to a handler, although the handler itself still ran. Nest unsubscribes an @Sse() route when its
// client disconnects, and an async handler's promise runs on after that; a client that connected,
// waited for the handler to start and disconnected, again and again, had any number of handlers
// running under ConcurrencyLimit({ maxConcurrent: 1 }). An interceptor that gives up on a handler
// (Nest's timeout() recipe) did the same for an MCP-Nest tool. What must hold: a slot is held until
// the handler really ends (answers, fails or completes), whoever stopped listening to it.
import 'reflect-metadata';
import http from 'node:http';
import { afterEach, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import {
  Controller,
  Injectable,
  Module,
  Sse,
  UseInterceptors,
  type CallHandler,
  type INestApplication,
  type NestInterceptor,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Payload } from '@nestjs/microservices';
import {
  McpController,
  McpHttpControllerFor,
  StreamableHttpTransport,
  Tool,
} from '@rekog/mcp-nest';
// Observable as a value, as Nest's docs import it: the handlers' declared return type is then
// recorded (design:returntype), which must not be taken for proof that nothing runs on.
import { from, interval, map, NEVER, Observable, retry, timeout } from 'rxjs';
import { z } from 'zod';
import { ConcurrencyLimit, McpRateLimitModule, RateLimit } from '../../src/index.js';
import { serveMcpNest } from '../fixtures/mcp-nest-server.js';

/** How many handlers run now, the most that ever ran at once, and how to end the running ones. */
let running = 0;
let mostAtOnce = 0;
const gates: (() => void)[] = [];

/** The handler's slow part (a job it starts, a model it asks): it ignores being let go of. */
async function slowWork(): Promise<void> {
  running++;
  mostAtOnce = Math.max(mostAtOnce, running);
  try {
    await new Promise<void>((resolve) => gates.push(resolve));
  } finally {
    running--;
  }
}

function endAll(): void {
  for (const open of gates.splice(0)) open();
}

const apps: INestApplication[] = [];
const clients: Client[] = [];
const requests: http.ClientRequest[] = [];
afterEach(async () => {
  endAll();
  for (const request of requests.splice(0)) request.destroy();
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(apps.splice(0).map((app) => app.close()));
  running = 0;
  mostAtOnce = 0;
});

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

@Controller('progress')
class ProgressController {
  // One job at a time for everyone (one slot pool: key 'all').
  @Sse()
  @RateLimit(new ConcurrencyLimit({ maxConcurrent: 1, key: () => 'all' }))
  async follow(): Promise<Observable<{ data: string }>> {
    await slowWork();
    return interval(10).pipe(map((tick) => ({ data: String(tick) })));
  }
}

/**
 * What a tracing or logging decorator does: replaces the method with a plain function around it,
 * copying its metadata. The handler Nest calls is then no native `async` function.
 */
function Traced(): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    const original = descriptor.value as (...args: unknown[]) => unknown;
    const wrapper = function (this: unknown, ...args: unknown[]) {
      return original.apply(this, args);
    };
    for (const key of Reflect.getOwnMetadataKeys(original)) {
      Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, original), wrapper);
    }
    descriptor.value = wrapper;
  };
}

@Controller('progress')
class TracedProgressController {
  @Sse()
  @RateLimit(new ConcurrencyLimit({ maxConcurrent: 1, key: () => 'all' }))
  @Traced()
  async follow(): Promise<Observable<{ data: string }>> {
    await slowWork();
    return interval(10).pipe(map((tick) => ({ data: String(tick) })));
  }
}

let opened = 0;

@Controller('progress')
class PromisedProgressController {
  // Not async, and declared to return an Observable, but the work behind its stream is a promise
  // it started: unsubscribing the stream does not stop that work.
  @Sse()
  @RateLimit(new ConcurrencyLimit({ maxConcurrent: 1, key: () => 'all' }))
  follow(): Observable<{ data: string }> {
    return from(slowWork()).pipe(map(() => ({ data: 'done' })));
  }
}

@Controller('news')
class BrieflyLeasedNewsController {
  // The quiet stream again, with a lease of 1 s.
  @Sse()
  @RateLimit(new ConcurrencyLimit({ maxConcurrent: 1, leaseSeconds: 1, key: () => 'all' }))
  follow(): Observable<{ data: string }> {
    opened++;
    return NEVER;
  }
}

/** Opens the event stream; resolves with the status and the first bytes of the body. */
function open(url: string): { request: http.ClientRequest; first: Promise<string> } {
  let request!: http.ClientRequest;
  const first = new Promise<string>((resolve, reject) => {
    request = http.get(url, { agent: false }, (response) => {
      response.once('data', (chunk: Buffer) => resolve(`${response.statusCode} ${String(chunk)}`));
    });
    request.on('error', reject);
  });
  requests.push(request);
  first.catch(() => undefined);
  return { request, first };
}

describe('a handler Nest lets go of keeps its ConcurrencyLimit slot until it ends', () => {
  test.each([
    ['an async handler', ProgressController],
    ['an async handler a decorator wrapped', TracedProgressController],
    ['a handler that returns a stream of a promise it started', PromisedProgressController],
  ])(
    '@Sse(), %s: a client that disconnects while it runs, then reconnects, is denied',
    async (_name, controller) => {
      @Module({ imports: [McpRateLimitModule.forRoot()], controllers: [controller] })
      class AppModule {}
      const app = await NestFactory.create(AppModule, { logger: false });
      apps.push(app);
      await app.listen(0, '127.0.0.1');
      const { port } = app.getHttpServer().address() as { port: number };
      const url = `http://127.0.0.1:${port}/progress`;

      for (let attempt = 0; attempt < 3; attempt++) {
        const { request } = open(url);
        await until(() => running >= 1, 'the handler to start');
        request.destroy(); // Nest unsubscribes the route; its handler runs on
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const again = open(url);
      expect(await again.first).toContain('-32005');
      expect(mostAtOnce).toBe(1);

      // Once the handler really ends (its stream's first event: Nest gave up on the stream), its
      // slot comes back.
      endAll();
      await until(() => running === 0, 'the handler to end');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const last = open(url);
      await until(() => running === 1, 'a handler in the freed slot');
      endAll();
      expect(await last.first).toMatch(/^200 /);
      last.request.destroy();
    },
  );

  test('@Sse(), a quiet stream whose client left keeps its slot until its lease ends', async () => {
    // Whatever returned the stream, the work behind it may run on (a stream of a promise): a slot
    // comes back at the stream's first event, or when its lease ends.
    @Module({ imports: [McpRateLimitModule.forRoot()], controllers: [BrieflyLeasedNewsController] })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: false });
    apps.push(app);
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as { port: number };
    const url = `http://127.0.0.1:${port}/news`;
    opened = 0;
    const first = open(url);
    await until(() => opened === 1, 'stream 1 to open');
    first.request.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await open(url).first).toContain('-32005');
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // the lease ends
    const later = open(url);
    await until(() => opened === 2, 'stream 2 to open');
    later.request.destroy();
  });

  test.each(['class', 'method'] as const)(
    'MCP-Nest tool behind a timeout() interceptor on its %s: a call after the timeout is denied while the first runs',
    async (on) => {
      const client = await serveReports((handled) => handled.pipe(timeout(100)), on);
      // The first call times out for its client while its handler runs on.
      expect(await report(client)).toContain('isError');
      expect(running).toBe(1);
      expect(await report(client)).toBe('error -32005');
      expect(mostAtOnce).toBe(1);

      endAll();
      await until(() => running === 0, 'the handler to end');
      const next = report(client);
      await until(() => running === 1, 'a handler in the freed slot');
      endAll();
      expect(await next).toContain('report');
    },
  );

  test.each(['class', 'method'] as const)(
    'timeout() then retry() on its %s: the retry does not run the handler again beside the one let go of',
    async (on) => {
      const client = await serveReports((handled) => handled.pipe(timeout(100), retry(2)), on);
      expect(await report(client)).toContain('isError');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(running).toBe(1);
      expect(mostAtOnce).toBe(1);
      expect(await report(client)).toBe('error -32005');
      expect(mostAtOnce).toBe(1);
    },
  );
});

/**
 * Serves the slow `report` tool (1 in flight per caller) behind `around`, bound on its class or on
 * the method itself (then beside the module's own interceptor among the method's interceptors).
 */
async function serveReports(
  around: (handled: Observable<unknown>) => Observable<unknown>,
  on: 'class' | 'method' = 'class',
): Promise<Client> {
  @Injectable()
  class Around implements NestInterceptor {
    intercept(_context: unknown, next: CallHandler): Observable<unknown> {
      return around(next.handle());
    }
  }

  @McpController()
  class ReportTools {
    @Tool({ name: 'report', description: 'A slow report', parameters: z.object({}) })
    @RateLimit(new ConcurrencyLimit({ maxConcurrent: 1 }))
    async report(@Payload() _args: object) {
      await slowWork();
      return 'report';
    }
  }
  if (on === 'class') UseInterceptors(Around)(ReportTools);
  else {
    const method = Object.getOwnPropertyDescriptor(ReportTools.prototype, 'report')!;
    UseInterceptors(Around)(ReportTools.prototype, 'report', method);
  }

  const transport = new StreamableHttpTransport();
  @Controller('mcp')
  class McpEndpoint extends McpHttpControllerFor(transport) {}
  @Module({
    imports: [McpRateLimitModule.forRoot()],
    controllers: [McpEndpoint, ReportTools],
    providers: [Around],
  })
  class AppModule {}
  const { app, url } = await serveMcpNest(AppModule, transport, 'reports');
  apps.push(app);
  const client = new Client({ name: 'attack13', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(url));
  clients.push(client);
  return client;
}

/** Calls `report`: its result as JSON, or `error <code>`. */
function report(client: Client): Promise<string> {
  return client.callTool({ name: 'report', arguments: {} }).then(
    (result) => JSON.stringify(result),
    (error: { code?: number }) => `error ${error.code}`,
  );
}

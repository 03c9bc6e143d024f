// Found by attack review 12: the target of a resources/read (what limits, `key`, `limitByContext`,
// cost functions and `onDecision` see as `context.target`) was read from `params.name` before
// `params.uri`. A resource is named by its URI; `name` is no field of resources/read, so the client
// chose the target by adding one: a per-document limit (`key` by subject and target) gave each made-up
// name a fresh quota, and the decision hook reported a name of the client's choosing. What must hold:
// a resource call's target is its URI. Real Nest app, raw HTTP over real sockets.
import 'reflect-metadata';
import { afterEach, expect, test } from '@jest/globals';
import { Body, Controller, HttpCode, Module, Post, type INestApplication } from '@nestjs/common';
import {
  FixedWindowRateLimit,
  LimitMcpMessages,
  McpRateLimitModule,
  RateLimit,
  type RateLimitEvent,
} from '../../src/index.js';
import { serveHttp } from '../fixtures/http-app.js';

const reads: string[] = [];
const events: RateLimitEvent[] = [];

@Controller('rpc')
@LimitMcpMessages()
class DocumentsEndpoint {
  @Post()
  @HttpCode(200)
  // Each user may read each document twice an hour.
  @RateLimit(
    new FixedWindowRateLimit({
      maxCalls: 2,
      perSeconds: 3600,
      key: (context) => `${context.subject}|doc:${context.target ?? '?'}`,
    }),
  )
  handle(@Body() message: { id: number; params: { uri: string } }) {
    reads.push(message.params.uri);
    const contents = [{ uri: message.params.uri, text: 'the document' }];
    return { jsonrpc: '2.0', id: message.id, result: { contents } };
  }
}

@Module({
  imports: [
    McpRateLimitModule.forRoot({
      messageLimit: { limits: [new FixedWindowRateLimit({ maxCalls: 100, perSeconds: 60 })] },
      onDecision: (event) => events.push(event),
    }),
  ],
  controllers: [DocumentsEndpoint],
})
class AppModule {}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
});

test('a resources/read is limited by its URI, whatever name the client adds to its params', async () => {
  const served = await serveHttp(AppModule, 'rpc');
  app = served.app;
  const answers: string[] = [];
  for (let id = 1; id <= 5; id++) {
    const response = await fetch(served.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id,
        method: 'resources/read',
        params: { uri: 'docs://payroll', name: `made-up-${id}` },
      }),
    });
    const body = (await response.json()) as { result?: unknown; error?: { code: number } };
    answers.push(body.error === undefined ? 'read' : String(body.error.code));
  }
  expect(answers).toEqual(['read', 'read', '-32005', '-32005', '-32005']);
  expect(reads).toHaveLength(2);
  expect(new Set(events.map((event) => event.target))).toEqual(new Set(['docs://payroll']));
});

// An `onDecision` hook written as an async function (it awaits an audit log, a queue) whose
// promise rejects: the option says hook errors are ignored, but a rejected promise escaped the
// module's try/catch as an unhandled rejection, which ends a Node process (the default since
// Node 15): one failing audit write took the whole MCP server down. A rejection must be logged
// like a thrown error, and the call answered as it would be without the hook.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Controller, HttpCode, Module, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  FixedWindowRateLimit,
  McpRateLimitModule,
  RateLimit,
  type RateLimitEvent,
} from '../../src/index.js';

@Controller('echo')
class EchoController {
  @Post()
  @HttpCode(200)
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 }))
  echo() {
    return { ok: true };
  }
}

const heard: RateLimitEvent[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
let app: INestApplication;
let url: string;

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  @Module({
    imports: [
      McpRateLimitModule.forRoot({
        onDecision: async (event) => {
          heard.push(event);
          await Promise.resolve();
          throw new Error('audit log unreachable');
        },
      }),
    ],
    controllers: [EchoController],
  })
  class AppModule {}
  app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  url = `${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/echo`;
});
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await app?.close();
});

describe('an async onDecision hook that rejects', () => {
  test('leaves no unhandled rejection; calls are decided as without the hook', async () => {
    const first = await fetch(url, { method: 'POST' });
    const second = await fetch(url, { method: 'POST' });
    // Unhandled rejections are reported after the microtask queue drains.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(heard.map((event) => event.type)).toEqual(['allowed', 'denied']);
    expect(((await first.json()) as { ok?: boolean }).ok).toBe(true);
    expect(((await second.json()) as { error?: unknown }).error).toBeDefined();
    expect(unhandled).toEqual([]);
  });
});

// An `onDecision` hook that throws (or whose async body rejects with) a value that has no string
// form: a null-prototype object, a Symbol. The module's catch built its warning with a template
// literal, which itself threw on such a value: the hook's failure escaped the catch and failed the
// call (a synchronous throw) or became an unhandled rejection again (an async hook), though hook
// errors must change no decision.
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
        onDecision: (event) => {
          heard.push(event);
          if (event.type === 'allowed') throw Object.create(null);
          return Promise.reject(Symbol('audit'));
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

describe('an onDecision hook that fails with a value without a string form', () => {
  test('changes no decision and leaves no unhandled rejection', async () => {
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

// An `onDecision` hook that fails must change no decision and leave no unhandled rejection.
// - Written as an async function (it awaits an audit log, a queue) whose promise rejects: the
//   module's try/catch covered synchronous throws only, and the rejection went unhandled, which
//   ends a Node process (the default since Node 15): one failing audit write took the whole MCP
//   server down.
// - Failing with a value that has no string form (a null-prototype object, a Symbol): the module's
//   catch built its warning with a template literal, which itself threw on such a value, so the
//   hook's failure escaped the catch and failed the call (a synchronous throw) or became an
//   unhandled rejection again (an async hook).
import 'reflect-metadata';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
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

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
let app: INestApplication | undefined;

beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(async () => {
  process.off('unhandledRejection', onUnhandled);
  await app?.close();
  app = undefined;
});

describe('an onDecision hook that fails', () => {
  test.each([
    [
      'an async hook that rejects',
      async (_event: RateLimitEvent) => {
        await Promise.resolve();
        throw new Error('audit log unreachable');
      },
    ],
    [
      'a hook failing with values without a string form',
      (event: RateLimitEvent) => {
        if (event.type === 'allowed') throw Object.create(null);
        return Promise.reject(Symbol('audit'));
      },
    ],
  ])('%s: calls are decided as without it, no unhandled rejection', async (_name, hook) => {
    const heard: RateLimitEvent[] = [];
    @Module({
      imports: [
        McpRateLimitModule.forRoot({
          onDecision: (event) => {
            heard.push(event);
            return hook(event);
          },
        }),
      ],
      controllers: [EchoController],
    })
    class AppModule {}
    app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    const url = `${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/echo`;
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

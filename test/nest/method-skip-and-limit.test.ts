// Found by attack review 12: @SkipRateLimit() and @RateLimit() on the same method. A class-level
// @SkipRateLimit() keeps a method's own @RateLimit(); a method-level one dropped it: the method was
// exempt from every limit, its own included, and the app started without a word. A developer
// exempting an expensive method from the class's shared quota to give it a stricter one of its
// own left it unlimited (10 of 10 calls admitted under "2 per minute"). What must hold: a limit
// declared on a method is enforced; the method's @SkipRateLimit() exempts it from its class's
// limits. Real Nest app, raw HTTP over real sockets.
import 'reflect-metadata';
import { afterEach, expect, test } from '@jest/globals';
import { Controller, HttpCode, Module, Post, type INestApplication } from '@nestjs/common';
import {
  FixedWindowRateLimit,
  McpRateLimitModule,
  RateLimit,
  SkipRateLimit,
} from '../../src/index.js';
import { serveHttp } from '../fixtures/http-app.js';

@Controller('reports')
@RateLimit(new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 3600, namespace: 'reports' }))
class ReportsController {
  @Post('quick')
  @HttpCode(200)
  quick() {
    return { ok: true };
  }

  // Not out of the shared 3 an hour: a quota of its own, 2 an hour.
  @Post('full')
  @HttpCode(200)
  @SkipRateLimit()
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 3600 }))
  full() {
    return { ok: true };
  }

  @Post('health')
  @HttpCode(200)
  @SkipRateLimit()
  health() {
    return { ok: true };
  }
}

@Module({ imports: [McpRateLimitModule.forRoot()], controllers: [ReportsController] })
class AppModule {}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
});

async function admitted(url: string, attempts: number): Promise<number> {
  let count = 0;
  for (let index = 0; index < attempts; index++) {
    const response = await fetch(url, { method: 'POST' });
    if (((await response.json()) as { ok?: boolean }).ok === true) count++;
  }
  return count;
}

test("a method's own @RateLimit() holds beside its @SkipRateLimit(), which exempts it from the class's", async () => {
  const served = await serveHttp(AppModule, 'reports');
  app = served.app;
  expect(await admitted(`${served.url}/full`, 10)).toBe(2);
  // The class's 3 an hour were not touched by those calls, and still hold elsewhere.
  expect(await admitted(`${served.url}/quick`, 10)).toBe(3);
  expect(await admitted(`${served.url}/health`, 10)).toBe(10);
});

// Found by attack review 5: @SkipRateLimit() on a base class is inherited (Reflect metadata walks
// the class chain) and silently switched off the @RateLimit() a subclass declares on itself (on the
// class or on a method): the declared limit never held. What must hold: the nearest declaration
// wins, method before class, and along the class chain the nearest class that declares
// @RateLimit() or @SkipRateLimit(). A method's own @SkipRateLimit() still exempts it.
import 'reflect-metadata';
import { afterEach, describe, expect, test } from '@jest/globals';
import { Controller, HttpCode, Module, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  FixedWindowRateLimit,
  McpRateLimitModule,
  RateLimit,
  SkipRateLimit,
} from '../../src/index.js';

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** A base for public, cheap endpoints (health, version): never limited. */
@SkipRateLimit()
abstract class PublicEndpoint {
  @Post('ping')
  @HttpCode(200)
  ping() {
    return { ok: true };
  }
}

/** A subclass that reuses the base's routes but declares its own limit: 2 per minute. */
@Controller('login')
@RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
class LoginController extends PublicEndpoint {
  @Post()
  @HttpCode(200)
  login() {
    return { ok: true };
  }

  @Post('status')
  @HttpCode(200)
  @SkipRateLimit()
  status() {
    return { ok: true };
  }
}

/** Same, with the limit on the method itself. */
@Controller('otp')
class OtpController extends PublicEndpoint {
  @Post()
  @HttpCode(200)
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  verify() {
    return { ok: true };
  }
}

/** A subclass that declares nothing: the base's @SkipRateLimit() is the nearest declaration. */
@Controller('health')
class HealthController extends PublicEndpoint {}

/** One class: its @SkipRateLimit() exempts the class, a method's own @RateLimit() still holds. */
@Controller('mixed')
@SkipRateLimit()
class MixedController {
  @Post()
  @HttpCode(200)
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  limited() {
    return { ok: true };
  }

  @Post('free')
  @HttpCode(200)
  free() {
    return { ok: true };
  }
}

async function start() {
  @Module({
    imports: [McpRateLimitModule.forRoot()],
    controllers: [LoginController, OtpController, HealthController, MixedController],
  })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false });
  apps.push(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return `http://127.0.0.1:${port}`;
}

const post = (url: string) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x' } }),
  }).then((response) => response.json() as Promise<Record<string, unknown>>);

async function admitted(url: string, attempts: number): Promise<number> {
  let count = 0;
  for (let i = 0; i < attempts; i++) if ((await post(url)).ok === true) count++;
  return count;
}

describe('an inherited @SkipRateLimit() against a subclass own @RateLimit()', () => {
  test('class-level @RateLimit() of the subclass holds (2 of 10 admitted)', async () => {
    const base = await start();
    expect(await admitted(`${base}/login`, 10)).toBe(2);
  });

  test('method-level @RateLimit() of the subclass holds (2 of 10 admitted)', async () => {
    const base = await start();
    expect(await admitted(`${base}/otp`, 10)).toBe(2);
  });

  test("a method's own @SkipRateLimit() and an inherited skip that nothing overrides exempt", async () => {
    const base = await start();
    expect(await admitted(`${base}/login/status`, 5)).toBe(5);
    expect(await admitted(`${base}/health/ping`, 5)).toBe(5);
    // The subclass's class-level @RateLimit() is nearer than the base's skip for inherited routes.
    expect(await admitted(`${base}/login/ping`, 5)).toBe(2);
  });

  test("a class's @SkipRateLimit() yields to a method's own @RateLimit() (method before class)", async () => {
    const base = await start();
    expect(await admitted(`${base}/mixed`, 5)).toBe(2);
    expect(await admitted(`${base}/mixed/free`, 5)).toBe(5);
  });
});

// Found by attack review 9: the RateLimit headers present a ConcurrencyLimit as a rate.
// On a limited HTTP route, a `ConcurrencyLimit({ maxConcurrent: 2 })` (lease 60 s) becomes
// `RateLimit-Policy: "...";q=2;w=60` — in draft-ietf-httpapi-ratelimit-headers, 2 requests per
// 60-second window — and `RateLimit: "...";r=1;t=60`: "1 left, whole again in 60 s". A client that
// paces itself by these standard fields (the reason they are sent) slows to 2 calls a minute on a
// route that admits any number of calls, 2 at a time, and after one call waits a minute for a slot
// that came back when the call ended. The module already keeps concurrency limits out of the
// `_meta` quota of tool results for this very reason; the headers should not claim them either.
import 'reflect-metadata';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { Controller, HttpCode, Module, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  ConcurrencyLimit,
  FixedWindowRateLimit,
  McpRateLimitModule,
  RateLimit,
} from '../../src/index.js';

@Controller('render')
class RenderController {
  @Post()
  @HttpCode(200)
  @RateLimit(new ConcurrencyLimit({ maxConcurrent: 2, leaseSeconds: 60 }))
  render() {
    return { ok: true };
  }

  @Post('paced')
  @HttpCode(200)
  @RateLimit(
    new ConcurrencyLimit({ maxConcurrent: 2, leaseSeconds: 60 }),
    new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 10 }),
  )
  renderPaced() {
    return { ok: true };
  }
}

@Module({ imports: [McpRateLimitModule.forRoot()], controllers: [RenderController] })
class AppModule {}

let app: INestApplication;
let url: string;
beforeAll(async () => {
  app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  url = `${await app.getUrl()}/render`.replace('[::1]', '127.0.0.1');
});
afterAll(async () => {
  await app?.close();
});

test('a concurrency limit is not advertised as "2 requests per 60 s"', async () => {
  for (let call = 0; call < 3; call++) {
    const response = await fetch(url, { method: 'POST' });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    // Sequential calls never hold two slots: each is admitted. What do the headers tell?
    const policy = response.headers.get('ratelimit-policy') ?? '';
    const remaining = response.headers.get('ratelimit') ?? '';
    expect(policy).not.toMatch(/q=2;w=60/);
    expect(remaining).not.toMatch(/t=60/);
    // A concurrency limit alone reports no quota: no header fields at all.
    expect(response.headers.get('ratelimit-policy')).toBeNull();
    expect(response.headers.get('ratelimit')).toBeNull();
  }
});

test('beside a rate, only the rate is in the headers', async () => {
  const response = await fetch(`${url}/paced`, { method: 'POST' });
  expect(response.status).toBe(200);
  await response.arrayBuffer();
  expect(response.headers.get('ratelimit-policy')).toMatch(/^"[^"]+";q=5;w=10$/);
  expect(response.headers.get('ratelimit')).toMatch(/^"[^"]+";r=4;t=\d+$/);
});

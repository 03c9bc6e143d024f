// Found by attack review 9: `registerGlobally: true` moved the decision in front of the app's auth guard.
// The Nest docs register a global auth guard from an AuthModule (`{ provide: APP_GUARD, useClass:
// AuthGuard }`); without registerGlobally the rate-limit guard @RateLimit() binds runs after every
// global guard, so it sees `request.user`. With `registerGlobally: true` (as the README's CommonJS
// quick start shows) the module's own APP_GUARD runs among the global guards, in module order: when
// McpRateLimitModule is imported before AuthModule, it decides before the user is known, and the
// call is "counted once", so the method-level guard that runs after auth does not decide again.
// Every user behind one address (an office NAT, a proxy) then shares one quota keyed by IP: one of
// them uses up everyone's.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { Module, type INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { McpRateLimitModule } from '../../src/index.js';
import { BearerAuthGuard, reportAs, ReportsController } from '../fixtures/bearer-auth.js';
import { serveHttp } from '../fixtures/http-app.js';

@Module({ providers: [{ provide: APP_GUARD, useClass: BearerAuthGuard }] })
class AuthModule {}

@Module({
  imports: [McpRateLimitModule.forRoot({ registerGlobally: true }), AuthModule],
  controllers: [ReportsController],
})
class AppModule {}

let app: INestApplication;
let url: string;
beforeAll(async () => {
  ({ app, url } = await serveHttp(AppModule, 'reports'));
});
afterAll(async () => {
  await app?.close();
});

test("with registerGlobally, a limited handler is decided after the app's global auth guard: two users on one address each have their own quota", async () => {
  expect(await reportAs(url, 'alice')).toBe(true);
  expect(await reportAs(url, 'alice')).toBe(false);
  // Bob has not called yet: his own 1 per hour is whole.
  expect(await reportAs(url, 'bob')).toBe(true);
});

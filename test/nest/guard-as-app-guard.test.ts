// Found by attack review 12: McpRateLimitGuard registered by the app itself as a global guard,
// `{ provide: APP_GUARD, useClass: McpRateLimitGuard }` (the way @nestjs/throttler's guard is
// registered; the class is exported), listed before the app's auth guard. Review 9 made
// `registerGlobally` leave limited handlers to the guard they bind, which runs after every global
// guard; this registration bypassed that: the global run decided before the auth guard had set
// `request.user`, keyed the call by address, and the bound run, after auth, found it decided.
// Every user behind one address shared one quota: alice's call used up bob's. What must hold: a
// limited handler is decided by the guard it binds, after the app's global guards, however the
// guard is also registered. Real Nest app, raw HTTP over real sockets.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { Module, type INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { McpRateLimitGuard, McpRateLimitModule } from '../../src/index.js';
import { BearerAuthGuard, reportAs, ReportsController } from '../fixtures/bearer-auth.js';
import { serveHttp } from '../fixtures/http-app.js';

@Module({
  imports: [McpRateLimitModule.forRoot()],
  controllers: [ReportsController],
  providers: [
    { provide: APP_GUARD, useClass: McpRateLimitGuard },
    { provide: APP_GUARD, useClass: BearerAuthGuard },
  ],
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

test('McpRateLimitGuard as an APP_GUARD before the auth guard: two users on one address each have their own quota', async () => {
  expect(await reportAs(url, 'alice')).toBe(true);
  expect(await reportAs(url, 'alice')).toBe(false);
  // Bob has not called yet: his own 1 per hour is whole.
  expect(await reportAs(url, 'bob')).toBe(true);
});

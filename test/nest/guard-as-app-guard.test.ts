// Found by attack review 12: McpRateLimitGuard registered by the app itself as a global guard,
// `{ provide: APP_GUARD, useClass: McpRateLimitGuard }` (the way @nestjs/throttler's guard is
// registered; the class is exported), listed before the app's auth guard. Review 9 made
// `registerGlobally` leave limited handlers to the guard they bind, which runs after every global
// guard; this registration bypassed that: the global run decided before the auth guard had set
// `request.user`, keyed the call by address, and the bound run, after auth, found it decided.
// Every user behind one address shared one quota: alice's call used up bob's. What must hold: a
// limited handler is decided by the guard it binds, after the app's global guards, however the
// guard is also registered. Real Nest app, raw HTTP over real sockets.
import 'reflect-metadata';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  Controller,
  HttpCode,
  Injectable,
  Module,
  Post,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import {
  FixedWindowRateLimit,
  McpRateLimitGuard,
  McpRateLimitModule,
  RateLimit,
} from '../../src/index.js';
import { serveHttp } from '../fixtures/http-app.js';

@Injectable()
class AuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{
      headers: Record<string, string | undefined>;
      user?: { id: string };
    }>();
    const name = request.headers.authorization?.replace(/^Bearer /, '');
    if (name === undefined) return false;
    request.user = { id: name };
    return true;
  }
}

@Controller('reports')
class ReportsController {
  @Post()
  @HttpCode(200)
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 3600 }))
  create() {
    return { ok: true };
  }
}

@Module({
  imports: [McpRateLimitModule.forRoot()],
  controllers: [ReportsController],
  providers: [
    { provide: APP_GUARD, useClass: McpRateLimitGuard },
    { provide: APP_GUARD, useClass: AuthGuard },
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

async function call(user: string): Promise<boolean> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${user}`, 'content-type': 'application/json' },
    body: '{}',
  });
  const body = (await response.json()) as { error?: unknown };
  return response.status === 200 && body.error === undefined;
}

test('McpRateLimitGuard as an APP_GUARD before the auth guard: two users on one address each have their own quota', async () => {
  expect(await call('alice')).toBe(true);
  expect(await call('alice')).toBe(false);
  // Bob has not called yet: his own 1 per hour is whole.
  expect(await call('bob')).toBe(true);
});

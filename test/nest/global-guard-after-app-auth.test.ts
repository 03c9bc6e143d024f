// Found by attack review 9: `registerGlobally: true` moved the decision in front of the app's auth guard.
// The Nest docs register a global auth guard from an AuthModule (`{ provide: APP_GUARD, useClass:
// AuthGuard }`); without registerGlobally the rate-limit guard @RateLimit() binds runs after every
// global guard, so it sees `request.user`. With `registerGlobally: true` (as the README's CommonJS
// quick start shows) the module's own APP_GUARD runs among the global guards, in module order: when
// McpRateLimitModule is imported before AuthModule, it decides before the user is known, and the
// call is "counted once", so the method-level guard that runs after auth does not decide again.
// Every user behind one address (an office NAT, a proxy) then shares one quota keyed by IP: one of
// them uses up everyone's.
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
import { FixedWindowRateLimit, McpRateLimitModule, RateLimit } from '../../src/index.js';
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

@Module({ providers: [{ provide: APP_GUARD, useClass: AuthGuard }] })
class AuthModule {}

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

async function call(user: string): Promise<boolean> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${user}`, 'content-type': 'application/json' },
    body: '{}',
  });
  const body = (await response.json()) as { error?: unknown };
  return response.status === 200 && body.error === undefined;
}

test("with registerGlobally, a limited handler is decided after the app's global auth guard: two users on one address each have their own quota", async () => {
  expect(await call('alice')).toBe(true);
  expect(await call('alice')).toBe(false);
  // Bob has not called yet: his own 1 per hour is whole.
  expect(await call('bob')).toBe(true);
});

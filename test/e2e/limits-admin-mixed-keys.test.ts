// McpRateLimitService.reset of a handler with a per-user limit (keyed by the subject) and a limit
// with its own key (here per client address, `ip:<address>`, as the default subject of anonymous
// callers is spelled). Resetting alice, with her request, reset every limit at every key found:
// the per-user limit also at `ip:127.0.0.1`, which is the subject of every anonymous caller from
// that address: they got a fresh allowance nobody gave them (and the per-address limit was reset
// at `user:alice`, a key it never uses). Each limit must be reset at its own key only.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
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
import { APP_GUARD, NestFactory } from '@nestjs/core';
import {
  FixedWindowRateLimit,
  McpRateLimitModule,
  McpRateLimitService,
  RateLimit,
} from '../../src/index.js';

const perUser = new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 86_400 });
const perAddress = new FixedWindowRateLimit({
  maxCalls: 100,
  perSeconds: 86_400,
  key: (context) => `ip:${(context.request as { ip?: string } | undefined)?.ip ?? 'none'}`,
});

/** `x-user: <id>` signs in; without it the caller is anonymous, keyed by its address. */
@Injectable()
class AuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{
      headers: Record<string, string | undefined>;
      user?: { id: string };
    }>();
    const user = request.headers['x-user'];
    if (user !== undefined) request.user = { id: user };
    return true;
  }
}

@Controller('reports')
class ReportsController {
  @Post()
  @HttpCode(200)
  @RateLimit(perUser, perAddress)
  create() {
    return { ok: true };
  }
}

let app: INestApplication;
let url: string;
beforeAll(async () => {
  @Module({
    imports: [McpRateLimitModule.forRoot()],
    controllers: [ReportsController],
    providers: [{ provide: APP_GUARD, useClass: AuthGuard }],
  })
  class AppModule {}
  app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  url = `${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/reports`;
});
afterAll(async () => {
  await app?.close();
});

async function call(user?: string): Promise<boolean> {
  const headers: Record<string, string> = user === undefined ? {} : { 'x-user': user };
  const response = await fetch(url, { method: 'POST', headers });
  const body = (await response.json()) as { error?: unknown };
  return body.error === undefined;
}

describe('reset of a handler whose limits are keyed differently', () => {
  test("resetting a user leaves the anonymous callers of the user's address as they were", async () => {
    const limits = app.get(McpRateLimitService);
    const target = { handler: 'ReportsController.create' };
    expect(await call()).toBe(true); // the anonymous caller's one call of the day
    expect(await call()).toBe(false);
    expect(await call('alice')).toBe(true);
    expect(await call('alice')).toBe(false);
    const anonymous = (await limits.peek(target, 'ip:127.0.0.1', { request: { ip: '127.0.0.1' } }))
      .results[0].remaining;
    expect(anonymous).toBe(0);

    await limits.reset(target, 'user:alice', { request: { ip: '127.0.0.1' } });

    expect(await call('alice')).toBe(true); // alice starts afresh
    expect(await call()).toBe(false); // the anonymous caller does not
    const after = await limits.peek(target, 'ip:127.0.0.1', { request: { ip: '127.0.0.1' } });
    expect(after.results[0].remaining).toBe(0);
  });
});

// McpRateLimitService.peek/reset of a limit with its own `key` (found by attack review 9).
// The README's "Look up and reset a user's limits" takes the subject (`user:alice`) and promises
// "what alice has left" and "Alice starts afresh in every limit of the tool". For a limit with its
// own `key` (the README's `perOrganisation`, keyed `org:<orgId>`), peek calls key() with no
// request, so it reads the `org:none` bucket (every org-less user's) and reports it as Alice's:
// support sees a full quota while Alice is denied; reset clears a `user:alice` key the limit never
// uses, and Alice stays denied although the call answered (not asserted here). Peek should name
// the counter it cannot reach (an error), or use the request it is given, never another bucket.
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

// The README's example, with a small quota.
const perOrganisation = new FixedWindowRateLimit({
  maxCalls: 1,
  perSeconds: 86_400,
  key: (context) =>
    `org:${(context.request as { user?: { orgId?: string } } | undefined)?.user?.orgId ?? 'none'}`,
});

@Injectable()
class AuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{
      headers: Record<string, string | undefined>;
      user?: { id: string; orgId: string };
    }>();
    request.user = { id: request.headers['x-user'] ?? 'anon', orgId: 'acme' };
    return true;
  }
}

@Controller('reports')
class ReportsController {
  @Post()
  @HttpCode(200)
  @RateLimit(perOrganisation)
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

async function call(user: string): Promise<boolean> {
  const response = await fetch(url, { method: 'POST', headers: { 'x-user': user } });
  const body = (await response.json()) as { error?: unknown };
  return body.error === undefined;
}

describe("McpRateLimitService on a limit with its own key (the README's perOrganisation)", () => {
  const target = { handler: 'ReportsController.create' };
  const acmeRequest = { user: { id: 'alice', orgId: 'acme' } };

  test("peek never reports another bucket as the user's", async () => {
    expect(await call('alice')).toBe(true);
    expect(await call('alice')).toBe(false); // acme's 1 per day is used up
    const limits = app.get(McpRateLimitService);
    // Without the request the key reads, the limit's bucket is unknown: a clear refusal.
    await expect(limits.peek(target, 'user:alice')).rejects.toThrow(
      /ReportsController\.create.*FixedWindowRateLimit.*own key.*\{ request \}/,
    );
    // With it, the bucket of alice's organisation: used up.
    const peeked = await limits.peek(target, 'user:alice', { request: acmeRequest });
    expect(peeked.allowed).toBe(false);
  });

  test('reset clears the bucket the key names, given the request; refuses without it', async () => {
    const limits = app.get(McpRateLimitService);
    await expect(limits.reset(target, 'user:alice')).rejects.toThrow(/own key.*\{ request \}/);
    expect(await call('bob')).toBe(false); // acme is still used up
    await limits.reset(target, 'user:alice', { request: acmeRequest });
    expect(await call('bob')).toBe(true); // acme starts afresh
  });
});

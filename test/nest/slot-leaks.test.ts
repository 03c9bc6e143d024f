// Found by attack review 5: a ConcurrencyLimit slot taken by the guard was never released when the
// call was stopped between the guard and the library's interceptor: a later guard refusing the
// call (an auth guard after the rate-limit guard) or a class-level / global interceptor answering
// without the handler (a cache hit). The slot stayed held until its lease expired (60 s), so an
// unauthenticated caller could hold every slot of a pool shared by all. What must hold: a call
// that never runs holds no slot once it is answered.
import 'reflect-metadata';
import { afterEach, describe, expect, test } from '@jest/globals';
import {
  Controller,
  HttpCode,
  Injectable,
  Module,
  Post,
  UseGuards,
  UseInterceptors,
  type CallHandler,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
  type NestInterceptor,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { of, type Observable } from 'rxjs';
import { ConcurrencyLimit, McpRateLimitModule, RateLimit } from '../../src/index.js';

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** An auth guard: only a request carrying `authorization: Bearer good` passes. */
@Injectable()
class AuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string> }>();
    return request.headers.authorization === 'Bearer good';
  }
}

/** A cache in front of a whole controller: a request with `x-cached: 1` is answered from it. */
@Injectable()
class CacheInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string> }>();
    return request.headers['x-cached'] === '1' ? of({ cached: true }) : next.handle();
  }
}

// The whole backend takes 2 reports at a time, whoever asks (key: one slot pool for all callers).
@Controller('report')
@RateLimit(new ConcurrencyLimit({ maxConcurrent: 2, key: () => 'all-callers' }))
class ReportController {
  @Post()
  @HttpCode(200)
  @UseGuards(AuthGuard)
  run() {
    return { ok: true };
  }
}

// Per user (the IP here): at most 2 in flight. A class-level cache answers some requests.
@Controller('search')
@RateLimit(new ConcurrencyLimit({ maxConcurrent: 2 }))
@UseInterceptors(CacheInterceptor)
class SearchController {
  @Post()
  @HttpCode(200)
  run() {
    return { ok: true };
  }
}

/** An auth guard that takes its time (a token introspection), then lets every request through. */
@Injectable()
class SlowAuthGuard implements CanActivate {
  async canActivate(): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, 150));
    return true;
  }
}

// One job at a time for everyone; the auth guard runs after the rate-limit guard took the slot.
let jobsRun = 0;
@Controller('job')
@RateLimit(new ConcurrencyLimit({ maxConcurrent: 1, key: () => 'all-callers' }))
class JobController {
  @Post()
  @HttpCode(200)
  @UseGuards(SlowAuthGuard)
  run() {
    jobsRun++;
    return { ok: true };
  }
}

async function start(controller: Type<unknown>, path: string, platform: 'express' | 'fastify') {
  @Module({
    imports: [McpRateLimitModule.forRoot()],
    controllers: [controller],
    providers: [AuthGuard, CacheInterceptor, SlowAuthGuard],
  })
  class AppModule {}
  const app =
    platform === 'fastify'
      ? await NestFactory.create(AppModule, new FastifyAdapter(), { logger: false })
      : await NestFactory.create(AppModule, { logger: false });
  apps.push(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return `http://127.0.0.1:${port}/${path}`;
}

const post = (url: string, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x' } }),
  });

describe.each(['express', 'fastify'] as const)(
  'ConcurrencyLimit slots of calls stopped after the guard (%s)',
  (platform) => {
    test('requests refused by a later auth guard hold no slot: an authorised caller still gets in', async () => {
      const url = await start(ReportController, 'report', platform);
      // An unauthenticated attacker: each request is refused (403)...
      for (let i = 0; i < 2; i++) expect((await post(url)).status).toBe(403);
      // ...and nothing runs now, so an authorised caller must be admitted.
      const legit = await post(url, { authorization: 'Bearer good' });
      const body = await legit.json();
      expect(body).toEqual({ ok: true });
    });

    test('a call whose client left before it ran frees its slot and does not run', async () => {
      const url = await start(JobController, 'job', platform);
      jobsRun = 0;
      // The client gives up while the auth guard still works: its slot is freed at once...
      const leaving = new AbortController();
      const left = fetch(url, { method: 'POST', signal: leaving.signal }).catch(() => 'aborted');
      await new Promise((resolve) => setTimeout(resolve, 50));
      leaving.abort();
      expect(await left).toBe('aborted');
      // ...so the job must not run without it, once the guard lets the call through.
      await new Promise((resolve) => setTimeout(resolve, 250));
      expect(jobsRun).toBe(0);
      expect(await (await post(url)).json()).toEqual({ ok: true });
      expect(jobsRun).toBe(1);
    });

    test('calls answered by a class-level interceptor hold no slot once answered', async () => {
      const url = await start(SearchController, 'search', platform);
      // Two sequential cache hits: each has ended when its answer arrives.
      for (let i = 0; i < 2; i++) {
        expect(await (await post(url, { 'x-cached': '1' })).json()).toEqual({ cached: true });
      }
      // Nothing in flight: a third call (not cached) must run.
      expect(await (await post(url)).json()).toEqual({ ok: true });
    });
  },
);

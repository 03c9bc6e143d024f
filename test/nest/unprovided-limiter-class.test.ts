// A custom limiter class that no module lists in its providers is made by the module itself. It
// was made once per handler (and per mention), so a class that keeps its own count limited each
// handler apart: one declared allowance of 2 across two routes admitted 2 on each, where the same
// class listed in `providers` (Nest's one instance) admitted 2 in all. Listing it or not must not
// change what is enforced: one instance per class, as a provider.
import 'reflect-metadata';
import { afterEach, describe, expect, test } from '@jest/globals';
import { Controller, Injectable, Module, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  McpRateLimitModule,
  RateLimit,
  type McpRateLimiter,
  type RateLimitContext,
} from '../../src/index.js';

/** Two calls per subject in all, counted by the limiter itself. */
@Injectable()
class TwoInAll implements McpRateLimiter {
  private readonly used = new Map<string, number>();
  consume(context: RateLimitContext): number | null {
    const used = this.used.get(context.subject) ?? 0;
    if (used >= 2) return 60;
    this.used.set(context.subject, used + 1);
    return null;
  }
}

@Controller('jobs')
class JobsController {
  @Post('export')
  @RateLimit(TwoInAll)
  export() {
    return 'exported';
  }

  @Post('import')
  @RateLimit(TwoInAll)
  import() {
    return 'imported';
  }
}

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

describe('a custom limiter class that no module provides', () => {
  test.each([
    ['not listed in providers', []],
    ['listed in providers', [TwoInAll]],
  ])('%s: one instance serves every handler that names it', async (_name, providers) => {
    @Module({
      imports: [McpRateLimitModule.forRoot()],
      controllers: [JobsController],
      providers,
    })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: false });
    apps.push(app);
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as { port: number };
    const statuses = [];
    for (const path of ['export', 'export', 'import', 'import']) {
      const response = await fetch(`http://127.0.0.1:${port}/jobs/${path}`, { method: 'POST' });
      statuses.push(response.status === 201 ? 'ran' : `denied: ${await response.text()}`);
    }
    expect(statuses.map((status) => status.replace(/:.*/s, ''))).toEqual([
      'ran',
      'ran',
      'denied',
      'denied',
    ]);
    expect(statuses[3]).toContain('-32005');
  });
});

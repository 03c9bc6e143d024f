// Found by attack review 5: a second McpRateLimitModule.forRoot() (here in a feature module) booted
// silently, and the guard of that module's controllers took the nearest import's service: the
// default in-process store and options instead of the store the root configured, so two instances
// sharing that store (Redis in production; one MemoryStore object here) admitted 4 calls of a limit
// of 2. What must hold: every declared limit uses the app's one configuration, so an app with two
// McpRateLimitModule imports fails bootstrap, naming both importers and the fix.
import 'reflect-metadata';
import { afterEach, describe, expect, test } from '@jest/globals';
import { Controller, HttpCode, Module, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  FixedWindowRateLimit,
  McpRateLimitModule,
  MemoryStore,
  RateLimit,
} from '../../src/index.js';

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

@Controller('export')
class ExportController {
  @Post()
  @HttpCode(200)
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  run() {
    return { ok: true };
  }
}

/** One instance of the app: the root configures the shared store; a feature module imports forRoot() too. */
async function instance(shared: MemoryStore): Promise<string> {
  @Module({ imports: [McpRateLimitModule.forRoot()], controllers: [ExportController] })
  class ExportModule {}
  @Module({ imports: [McpRateLimitModule.forRoot({ store: shared }), ExportModule] })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false });
  apps.push(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return `http://127.0.0.1:${port}/export`;
}

const admitted = async (url: string) =>
  ((await (await fetch(url, { method: 'POST' })).json()) as { ok?: boolean }).ok === true;

describe('two forRoot() imports in one app', () => {
  test('bootstrap refuses the second import, naming both importers and the fix', async () => {
    await expect(instance(new MemoryStore())).rejects.toThrow(
      /McpRateLimitModule is imported 2 times \(forRoot\(\) or forRootAsync\(\), by (AppModule and by ExportModule|ExportModule and by AppModule)\): .*Fix: import McpRateLimitModule\.forRoot\(\) once, in the root module/,
    );
  });

  test('one forRoot() in the root: instances sharing its store admit 2 calls in all', async () => {
    async function single(shared: MemoryStore): Promise<string> {
      @Module({ controllers: [ExportController] })
      class ExportModule {}
      @Module({ imports: [McpRateLimitModule.forRoot({ store: shared }), ExportModule] })
      class AppModule {}
      const app = await NestFactory.create(AppModule, { logger: false });
      apps.push(app);
      await app.listen(0, '127.0.0.1');
      const { port } = app.getHttpServer().address() as { port: number };
      return `http://127.0.0.1:${port}/export`;
    }
    const shared = new MemoryStore();
    const urls = [await single(shared), await single(shared)];
    let count = 0;
    for (const url of urls) for (let i = 0; i < 3; i++) if (await admitted(url)) count++;
    expect(count).toBe(2);
  });

  test('the same forRoot() module imported by two modules is one import', async () => {
    const limits = McpRateLimitModule.forRoot({ store: new MemoryStore() });
    @Module({ imports: [limits], controllers: [ExportController] })
    class ExportModule {}
    @Module({ imports: [limits, ExportModule] })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: false });
    apps.push(app);
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as { port: number };
    let count = 0;
    for (let i = 0; i < 3; i++) if (await admitted(`http://127.0.0.1:${port}/export`)) count++;
    expect(count).toBe(2);
  });
});

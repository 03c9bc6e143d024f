// The dual-package hazard, with the packed package as users install it (symlinked into each fixture
// app's src/ like nest-app.ts): one process that loads two copies of nestjs-mcp-rate-limit (the
// CommonJS build through require() and the ES module build through import, or a library's own copy
// in a nested node_modules) has two of each class, and one copy cannot enforce the limits declared
// with the other. What must hold: such an app refuses to start, naming the handler, both copies
// and the fix, whichever copy the decorators, the limits and McpRateLimitModule come from; each
// copy alone enforces its limits.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Controller, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import * as own from 'nestjs-mcp-rate-limit';

/** One loaded copy of the package. */
export type PackageCopy = typeof own;

/** An app whose limited route takes its decorator, limit and module from the given copies. */
function appWith(decorators: PackageCopy, limits: PackageCopy, module: PackageCopy) {
  @Controller('search')
  class SearchController {
    @Post()
    @HttpCode(200)
    @decorators.RateLimit(new limits.FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
    search() {
      return { ok: true };
    }
  }
  @Module({ imports: [module.McpRateLimitModule.forRoot()], controllers: [SearchController] })
  class AppModule {}
  return AppModule;
}

/** The bootstrap error of an app mixing two copies; fails unless it names the cause and the fix. */
async function refusal(appModule: object, where: string): Promise<string> {
  const app = await NestFactory.create(appModule as never, { logger: false, abortOnError: false });
  let message: string | undefined;
  try {
    await app.init();
  } catch (error) {
    message = error instanceof Error ? error.message : String(error);
  } finally {
    await app.close().catch(() => undefined);
  }
  assert.ok(message !== undefined, `${where}: the app started, its limit decided by no copy`);
  assert.match(
    message,
    /SearchController\.search[:,] .*comes from one copy of nestjs-mcp-rate-limit \(.+\) but would be decided by another \(.+\)\. The process has loaded the package twice.*Fix: load one copy/,
    `${where}: ${message}`,
  );
  return message;
}

/** Three calls of the route of an app made with one copy: 2 admitted, then -32005. */
async function enforced(copy: PackageCopy): Promise<void> {
  const app = await NestFactory.create(appWith(copy, copy, copy) as never, { logger: false });
  try {
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as { port: number };
    const codes: unknown[] = [];
    for (let id = 1; id <= 3; id++) {
      const response = await fetch(`http://127.0.0.1:${port}/search`, { method: 'POST' });
      const body = (await response.json()) as { ok?: boolean; error?: { code?: unknown } };
      codes.push(body.ok === true ? 'ok' : body.error?.code);
    }
    assert.deepEqual(codes, ['ok', 'ok', -32005]);
  } finally {
    await app.close();
  }
}

/**
 * `other` is the package loaded the other way (this app's require() or import's counterpart);
 * the nested copy is made here, in this app's node_modules, as a library's own install would be.
 */
export async function runTwoCopiesSmoke(other: PackageCopy, otherBuild: string): Promise<string[]> {
  assert.notEqual(other.McpRateLimitModule, own.McpRateLimitModule, 'two builds, two copies');
  await enforced(other);
  const proved = [`the ${otherBuild} build alone: 2 admitted, then -32005`];
  const build = (message: string) => (message.match(/dist[\\/](esm|cjs)/g) ?? []).join(' and ');
  let message = await refusal(appWith(other, other, own), `${otherBuild} decorators`);
  proved.push(
    `${otherBuild} @RateLimit() + limit, this build's module: refused (${build(message)})`,
  );
  message = await refusal(appWith(own, own, other), `${otherBuild} module`);
  proved.push(
    `this build's @RateLimit() + limit, ${otherBuild} module: refused (${build(message)})`,
  );
  message = await refusal(appWith(own, other, own), `${otherBuild} limit`);
  proved.push(
    `a limit of the ${otherBuild} build in this build's @RateLimit(): refused (${build(message)})`,
  );

  const app = createRequire(join(process.cwd(), 'package.json'));
  const installed = dirname(app.resolve('nestjs-mcp-rate-limit/package.json'));
  const library = join(process.cwd(), 'node_modules', 'two-copies-library');
  const nested = join(library, 'node_modules', 'nestjs-mcp-rate-limit');
  mkdirSync(dirname(nested), { recursive: true });
  cpSync(installed, nested, { recursive: true });
  try {
    const copy = createRequire(join(library, 'index.js'))('nestjs-mcp-rate-limit') as PackageCopy;
    message = await refusal(appWith(copy, copy, own), 'nested copy');
    assert.ok(message.includes(join('two-copies-library', 'node_modules')), message);
    proved.push("a nested copy's @RateLimit() + limit, the app's module: refused");
  } finally {
    rmSync(library, { recursive: true, force: true });
  }
  return proved;
}

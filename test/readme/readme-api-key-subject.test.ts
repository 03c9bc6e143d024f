// The README's API-key `resolveSubject` example keys verified keys only (found by attack review 9).
// "Who is calling" shows `resolveSubject` returning `key:${headers['x-api-key']}` for any string
// the client sends ("An API key header instead of the user"), never checking that the key exists.
// Pasted as shown, every limit becomes per-whatever-the-client-writes: a client that sends a new
// random `x-api-key` with each call gets a fresh quota each time, without limit. The example should
// key only a key the app has verified (and fall back to the default, e.g. the IP, otherwise).
// This test runs the README's own resolveSubject (extracted from README.md) against a real app.
import 'reflect-metadata';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { Controller, HttpCode, Module, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { FixedWindowRateLimit, McpRateLimitModule, RateLimit } from '../../src/index.js';

/** The README's `resolveSubject: ...` of the x-api-key example, as a function. */
function readmeResolveSubject(): (call: unknown) => string | undefined {
  const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
  const block = readme
    .split('```')
    .find(
      (text) =>
        text.startsWith('ts') && text.includes('resolveSubject') && text.includes('x-api-key'),
    );
  if (block === undefined) throw new Error('README: the x-api-key resolveSubject example is gone');
  const start = block.indexOf('resolveSubject:');
  // The arrow function runs to the line that closes it: `  },` at the option's indentation.
  const end = block.indexOf('\n  },', start);
  const source = block.slice(start + 'resolveSubject:'.length, end + '\n  }'.length);
  const js = ts.transpileModule(`module.exports = (${source});`, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const module = { exports: undefined as unknown };
  new Function('module', js)(module);
  return module.exports as (call: unknown) => string | undefined;
}

@Controller('rpc')
class RpcController {
  @Post()
  @HttpCode(200)
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 3600 }))
  handle() {
    return { jsonrpc: '2.0', id: 1, result: {} };
  }
}

let app: INestApplication;
let url: string;
beforeAll(async () => {
  @Module({
    imports: [McpRateLimitModule.forRoot({ resolveSubject: readmeResolveSubject() })],
    controllers: [RpcController],
  })
  class AppModule {}
  app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  url = `${await app.getUrl()}/rpc`.replace('[::1]', '127.0.0.1');
});
afterAll(async () => {
  await app?.close();
});

test('one client sending made-up API keys gets no more than the limit', async () => {
  let admitted = 0;
  for (let call = 0; call < 5; call++) {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': randomUUID() },
      body: JSON.stringify({ jsonrpc: '2.0', id: call, method: 'tools/call', params: {} }),
    });
    const body = (await response.json()) as { error?: unknown; result?: unknown };
    if (response.status === 200 && body.error === undefined && body.result !== undefined) {
      admitted++;
    }
  }
  expect(admitted).toBeLessThanOrEqual(1);
});

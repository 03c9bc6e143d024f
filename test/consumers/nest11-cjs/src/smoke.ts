// Smoke test of the packed library in a Nest 11 CommonJS app: compiled by tsc to CommonJS, so every
// import below is a require() of the package's CommonJS build.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createRateLimiter, FixedWindowRateLimit } from 'nestjs-mcp-rate-limit';
import { runNestSmoke } from './nest-app.js';

async function main(): Promise<void> {
  const resolved = require.resolve('nestjs-mcp-rate-limit');
  assert.match(resolved, /[\\/]dist[\\/]cjs[\\/]index\.js$/, `resolved to ${resolved}`);

  const limiter = createRateLimiter({
    limits: [new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 })],
  });
  const decisions = [];
  for (let call = 0; call < 3; call++) decisions.push(await limiter.consume('user:alice'));
  assert.deepEqual(
    decisions.map((decision) => decision.allowed),
    [true, true, false],
  );
  assert.ok((decisions[2].retryAfter ?? 0) >= 1, 'a denial says when to retry');
  assert.equal((await limiter.consume('user:bob')).allowed, true, 'subjects have their own quota');
  console.log(`createRateLimiter via require(): ok (${resolved})`);

  for (const line of await runNestSmoke()) console.log(line);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

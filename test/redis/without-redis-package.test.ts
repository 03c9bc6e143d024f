// A RedisStore over a URL loads its client library (node-redis, or ioredis) when it first
// connects. Without that package installed, every call went to the outage policy as if Redis were
// down: the limits quietly held per instance (insurance), a warning now and then, and a Nest app
// started as if all were well. A missing package is a setup mistake, not an outage: the app must
// refuse to start, and a limiter outside Nest must fail its calls, each naming the package.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { transpileForNode } from '../fixtures/transpile.js';

const host = process.env.REDIS_HOST ?? '127.0.0.1';
const port = process.env.REDIS_PORT ?? '6379';

// Makes `redis` unresolvable in the child, as in an app that never installed it.
const HIDE_REDIS = `data:text/javascript,${encodeURIComponent(
  `export async function resolve(specifier, context, next) {
    if (specifier === 'redis') {
      const error = new Error("Cannot find package 'redis'");
      error.code = 'ERR_MODULE_NOT_FOUND';
      throw error;
    }
    return next(specifier, context);
  }`,
)}`;
const REGISTER = `data:text/javascript,${encodeURIComponent(
  `import { register } from 'node:module'; register(${JSON.stringify(HIDE_REDIS)});`,
)}`;

describe('RedisStore.fromUrl without its client package installed', () => {
  test('a limiter fails its calls and a Nest app refuses to start, naming the package', () => {
    const out = transpileForNode('without-redis-package');
    const printed = execFileSync(
      process.execPath,
      ['--import', REGISTER, join(out, 'test', 'fixtures', 'without-redis-package.js')],
      { env: { ...process.env, REDIS_URL: `redis://${host}:${port}` }, encoding: 'utf8' },
    );
    const outcome = JSON.parse(printed.trim().split('\n').pop()!) as Record<string, string>;
    expect(outcome.limiter).toMatch(/^failed: RateLimitConfigError: .*"redis" package/);
    expect(outcome.limiter).toContain('npm install redis');
    expect(outcome.app).toMatch(/^refused: .*"redis" package/);
  }, 60_000);
});

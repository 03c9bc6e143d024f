import { describe, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createConnection } from 'node:net';

/**
 * The shared Redis of dev and CI machines; REDIS_HOST / REDIS_PORT point the suites at another one
 * (a private server, so that parallel runs do not share keys or load).
 */
export const REDIS_HOST = process.env.REDIS_HOST ?? '127.0.0.1';
export const REDIS_PORT = Number(process.env.REDIS_PORT ?? 6379);
export const REDIS_URL = `redis://${REDIS_HOST}:${REDIS_PORT}`;

/** Whether a Redis answers PING on host:port within timeoutMs (a raw socket: no client needed). */
export function pingRedis(
  port = REDIS_PORT,
  host = REDIS_HOST,
  timeoutMs = 1000,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let answer = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
    socket.on('error', () => done(false));
  });
}

/** Whether `redis-server` and `redis-cli` can be run (tests that start their own servers need them). */
export function redisBinariesAvailable(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    execFileSync('redis-cli', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The `describe` to use for a Redis suite. When Redis (and, with `ownServers`, the redis-server
 * binary) is there: `describe`. When it is not: with REQUIRE_REDIS=1 (CI) a failing test is
 * registered, so the run fails; otherwise the suite is skipped, loudly.
 */
export async function redisDescribe(
  suite: string,
  needs: { readonly ownServers?: boolean } = {},
): Promise<typeof describe | typeof describe.skip> {
  const reachable = await pingRedis();
  const binaries = needs.ownServers === true ? redisBinariesAvailable() : true;
  if (reachable && binaries) return describe;
  const missing = !reachable
    ? `Redis is not reachable at ${REDIS_HOST}:${REDIS_PORT}`
    : 'redis-server / redis-cli are not installed';
  if (process.env.REQUIRE_REDIS === '1') {
    describe(suite, () => {
      test('has a Redis to run against (REQUIRE_REDIS=1)', () => {
        throw new Error(`${missing}; REQUIRE_REDIS=1 makes this a failure`);
      });
    });
  } else {
    console.warn(`SKIPPED "${suite}": ${missing} (set REQUIRE_REDIS=1 to fail instead)`);
  }
  return describe.skip;
}

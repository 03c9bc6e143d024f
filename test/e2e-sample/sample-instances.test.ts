// Two instances of the sample app as separate processes, started as `npm start` starts it (PORT and
// REDIS_URL from the environment). With REDIS_URL they share their limits through Redis; without
// it each keeps its own in memory.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { redisDescribe, REDIS_URL } from '../redis/redis-available.js';
import { spawnSample, transpileSample, type SampleProcess } from './spawn-sample.js';

const started: SampleProcess[] = [];
let mainJs: string;

beforeAll(() => {
  mainJs = transpileSample();
});

afterAll(async () => {
  await Promise.all(started.map((sample) => sample.stop()));
});

async function startTwo(env: Record<string, string>): Promise<[SampleProcess, SampleProcess]> {
  const both = await Promise.all([spawnSample(mainJs, env), spawnSample(mainJs, env)]);
  started.push(...both);
  return both;
}

/** One `demo.echo` call over plain HTTP; answers the JSON-RPC error code, or 0 when admitted. */
async function echo(sample: SampleProcess, user: string, id: number): Promise<number> {
  const response = await fetch(sample.mcpUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      authorization: `Bearer ${user}`,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name: 'demo.echo', arguments: { text: 'hi' } },
    }),
  });
  const body = (await response.json()) as { result?: unknown; error?: { code: number } };
  if (body.error !== undefined) return body.error.code;
  expect(body.result).toBeDefined();
  return 0;
}

/** demo.echo allows 5 per clock-aligned 10 s window: start well inside one. */
async function awayFromWindowEnd(): Promise<void> {
  const leftMs = 10_000 - (Date.now() % 10_000);
  if (leftMs < 4_000) await new Promise((resolve) => setTimeout(resolve, leftMs + 20));
}

test('without REDIS_URL, each instance keeps its own limits in memory', async () => {
  const [a, b] = await startTwo({ PORT: '0', REDIS_URL: '' });
  expect(a.output()).toContain('Limit store: in-memory');
  const user = `mem-${randomUUID()}`;
  await awayFromWindowEnd();
  const codes: number[] = [];
  for (let call = 0; call < 6; call++) codes.push(await echo(a, user, call));
  for (let call = 0; call < 6; call++) codes.push(await echo(b, user, call));
  // 5 admitted and the 6th denied on each: nothing shared.
  expect(codes).toEqual([0, 0, 0, 0, 0, -32005, 0, 0, 0, 0, 0, -32005]);
});

const describeRedis = await redisDescribe('sample app instances sharing Redis');

describeRedis('with REDIS_URL', () => {
  test('two instances share one quota through Redis', async () => {
    const [a, b] = await startTwo({ PORT: '0', REDIS_URL });
    expect(a.output()).toContain(`Limit store: Redis at ${REDIS_URL}`);
    // A fresh user per run: earlier runs' counters in the shared Redis do not matter.
    const user = `redis-${randomUUID()}`;
    await awayFromWindowEnd();
    const codes: number[] = [];
    for (let call = 0; call < 6; call++) codes.push(await echo(call % 2 === 0 ? a : b, user, call));
    // 5 admitted in total across both instances, then denied on either.
    expect(codes).toEqual([0, 0, 0, 0, 0, -32005]);
    expect(await echo(a, user, 7)).toBe(-32005);
    expect(await echo(b, user, 8)).toBe(-32005);

    // The state is the RedisStore's own keys (atomic scripts), not Keyv JSON values of the cache.
    const redis = createClient({ url: REDIS_URL });
    await redis.connect();
    try {
      const keys: string[] = [];
      for await (const batch of redis.scanIterator({ MATCH: `mcprl:{*${user}}*` })) {
        keys.push(...batch);
      }
      expect(keys.some((key) => key.includes('DemoController.echo'))).toBe(true);
    } finally {
      await redis.quit();
    }
  });
});

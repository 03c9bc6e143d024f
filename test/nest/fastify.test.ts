// The same plain JSON-RPC endpoint on Nest's Fastify adapter: subject from request.user (set by an
// auth guard), the denial on the wire, the 429 option and the headers work as on Express.
import { afterEach, describe, expect, test } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { createJsonRpcApp } from '../fixtures/json-rpc-app.js';

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function start(options: Omit<Parameters<typeof createJsonRpcApp>[0], 'platform'>) {
  const started = await createJsonRpcApp({ ...options, platform: 'fastify' });
  apps.push(started.app);
  return started;
}

function post(url: string, body: unknown, user?: string) {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(user === undefined ? {} : { authorization: `Bearer user:${user}` }),
    },
    body: JSON.stringify(body),
  });
}

const call = (id: unknown) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'x' } });

describe('plain HTTP JSON-RPC endpoint on Fastify', () => {
  test('per-user message limit: 200 + JSON-RPC error echoing the id, Retry-After, RateLimit headers', async () => {
    const { url, executions } = await start({ messagesPerMinute: 2 });
    for (let id = 1; id <= 2; id++) {
      const admitted = await post(url, call(id), 'alice');
      expect(admitted.status).toBe(200);
      expect(admitted.headers.get('ratelimit')).toMatch(
        new RegExp(`^"msg-fw:2:60000";r=${2 - id};t=\\d+$`),
      );
      expect(admitted.headers.get('ratelimit-policy')).toBe('"msg-fw:2:60000";q=2;w=60');
    }
    const denied = await post(url, call('third'), 'alice');
    expect(denied.status).toBe(200);
    const body = (await denied.json()) as { error: { data: { retryAfter: number } } };
    expect(body).toMatchObject({
      jsonrpc: '2.0',
      id: 'third',
      error: { code: -32005, message: 'Rate limit exceeded' },
    });
    expect(Number(denied.headers.get('retry-after'))).toBe(body.error.data.retryAfter);
    expect(executions.bySubject.get('user:alice')).toBe(2);

    // Another user, and an anonymous client (keyed by IP), have quotas of their own.
    expect((await post(url, call(1), 'bob')).headers.get('ratelimit')).toMatch(/r=1;/);
    expect((await post(url, call(1))).headers.get('ratelimit')).toMatch(/r=1;/);
  });

  test('httpStatus 429 and a per-handler limit on a route', async () => {
    const { url } = await start({ messagesPerMinute: 100, httpStatus: 429 });
    const strict = `${url}/strict`;
    expect((await post(strict, { id: 1 }, 'alice')).status).toBe(200);
    expect((await post(strict, { id: 2 }, 'alice')).status).toBe(200);
    const denied = await post(strict, { id: 3 }, 'alice');
    expect(denied.status).toBe(429);
    expect(await denied.json()).toMatchObject({ id: 3, error: { code: -32005 } });
    expect(Number(denied.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });
});

// A plain Nest HTTP controller speaking MCP JSON-RPC: message-level limit, per-handler limit,
// the denial on the wire (200 + JSON-RPC error by default, 429 by option) and the headers.
import { afterEach, describe, expect, test } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { createJsonRpcApp, slowCalls } from '../fixtures/json-rpc-app.js';
import { FixedWindowRateLimit, type McpRateLimiter } from '../../src/index.js';

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function start(options: Parameters<typeof createJsonRpcApp>[0]) {
  const started = await createJsonRpcApp(options);
  apps.push(started.app);
  return started;
}

function post(url: string, body: unknown, user = 'u1', headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer user:${user}`,
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

const call = (id: unknown) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'x' } });

// draft-ietf-httpapi-ratelimit-headers-10: a list of sf-strings with integer parameters.
const POLICY =
  /^"[\x20-\x21\x23-\x5b\x5d-\x7e]+";q=\d+;w=\d+(, "[\x20-\x21\x23-\x5b\x5d-\x7e]+";q=\d+;w=\d+)*$/;
const REMAINING =
  /^"[\x20-\x21\x23-\x5b\x5d-\x7e]+";r=\d+;t=\d+(, "[\x20-\x21\x23-\x5b\x5d-\x7e]+";r=\d+;t=\d+)*$/;

describe('plain HTTP JSON-RPC endpoint', () => {
  test('message-level limit: requests count; the denial is HTTP 200 with the JSON-RPC error echoing the id', async () => {
    const { url, executions } = await start({ messagesPerMinute: 3 });
    for (let id = 1; id <= 3; id++) {
      const response = await post(url, call(id));
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ jsonrpc: '2.0', id, result: { content: [] } });
      expect(response.headers.get('ratelimit-policy')).toBe('"msg-fw:3:60000";q=3;w=60');
      expect(response.headers.get('ratelimit')).toMatch(
        new RegExp(`^"msg-fw:3:60000";r=${3 - id};t=\\d+$`),
      );
      expect(response.headers.get('ratelimit')).toMatch(REMAINING);
    }
    const denied = await post(url, call('req-4'));
    expect(denied.status).toBe(200);
    const body = (await denied.json()) as { error: { data: { retryAfter: number } } };
    expect(body).toMatchObject({
      jsonrpc: '2.0',
      id: 'req-4',
      error: {
        code: -32005,
        message: 'Rate limit exceeded',
        data: { limit: 'FixedWindowRateLimit(3 per 60s)' },
      },
    });
    const retryAfter = Number(denied.headers.get('retry-after'));
    expect(retryAfter).toBe(body.error.data.retryAfter);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(denied.headers.get('ratelimit')).toMatch(/^"msg-fw:3:60000";r=0;t=\d+$/);
    expect(denied.headers.get('ratelimit-policy')).toMatch(POLICY);
    expect(executions.bySubject.get('user:u1')).toBe(3);

    // Another user has a quota of their own.
    expect((await post(url, call(1), 'u2')).headers.get('ratelimit')).toMatch(/r=2;/);
  });

  test('notifications, responses and excluded methods never count', async () => {
    const { url } = await start({ messagesPerMinute: 2 });
    for (let round = 0; round < 10; round++) {
      for (const message of [
        { jsonrpc: '2.0', method: 'notifications/initialized' },
        { jsonrpc: '2.0', method: 'tools/call', params: {} },
        { jsonrpc: '2.0', id: round, result: {} },
        { jsonrpc: '2.0', id: round, error: { code: 1, message: 'no' } },
        { jsonrpc: '2.0', id: round, method: 'ping' },
        { jsonrpc: '2.0', id: round, method: 'initialize', params: {} },
      ]) {
        const response = await post(url, message);
        expect(response.status).toBe(200);
        expect(JSON.stringify(await response.json())).not.toContain('-32005');
      }
    }
    // GET is not a message either.
    expect((await fetch(url)).status).toBe(404);
    expect((await post(url, call(1))).status).toBe(200);
    expect((await post(url, call(2))).status).toBe(200);
    expect(
      ((await (await post(url, call(3))).json()) as { error?: { code: number } }).error?.code,
    ).toBe(-32005);
  });

  test('a batch counts each of its requests', async () => {
    const { url, executions } = await start({ messagesPerMinute: 3 });
    expect((await post(url, [call(1), call(2)])).status).toBe(200);
    const denied = await post(url, [call(3), call(4)]);
    expect((await denied.json()) as { id: unknown; error: { code: number } }).toMatchObject({
      id: null,
      error: { code: -32005 },
    });
    expect(executions.bySubject.get('user:u1')).toBe(2);
  });

  test('an excluded method is only skipped when the Mcp-Method header agrees', async () => {
    const { url } = await start({ messagesPerMinute: 1 });
    const ping = { jsonrpc: '2.0', id: 1, method: 'ping' };
    expect((await post(url, ping, 'u1', { 'mcp-method': 'tools/call' })).status).toBe(200);
    // That ping counted (the header disagreed): the quota of 1 is spent.
    const denied = await post(url, call(2), 'u1', { 'mcp-method': 'ping' });
    expect(((await denied.json()) as { error?: { code: number } }).error?.code).toBe(-32005);
  });

  test('httpStatus: 429 answers denials with 429, the same body and Retry-After', async () => {
    const { url } = await start({ messagesPerMinute: 1, httpStatus: 429 });
    expect((await post(url, call(1))).status).toBe(200);
    const denied = await post(url, call(2));
    expect(denied.status).toBe(429);
    expect(await denied.json()).toMatchObject({ id: 2, error: { code: -32005, data: {} } });
    expect(Number(denied.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  test('headers: false leaves RateLimit headers out; Retry-After stays on denials', async () => {
    const { url } = await start({ messagesPerMinute: 1, headers: false });
    const admitted = await post(url, call(1));
    expect(admitted.headers.get('ratelimit')).toBeNull();
    expect(admitted.headers.get('ratelimit-policy')).toBeNull();
    const denied = await post(url, call(2));
    expect(denied.headers.get('ratelimit')).toBeNull();
    expect(denied.headers.get('retry-after')).not.toBeNull();
  });

  test('enabled: false turns every limit off', async () => {
    const { url, executions } = await start({ messagesPerMinute: 1, enabled: false });
    for (let id = 0; id < 5; id++) expect((await post(url, call(id))).status).toBe(200);
    expect(executions.bySubject.get('user:u1')).toBe(5);
  });

  test('a per-handler @RateLimit on an HTTP route, on top of the message-level limit', async () => {
    const { url } = await start({ messagesPerMinute: 100 });
    const strict = `${url}/strict`;
    const first = await post(strict, call(1));
    // Both the message-level and the handler's limit report themselves.
    expect(first.headers.get('ratelimit-policy')).toBe(
      '"msg-fw:100:60000";q=100;w=60, "fw:2:60000";q=2;w=60',
    );
    expect(first.headers.get('ratelimit')).toMatch(REMAINING);
    expect((await post(strict, call(2))).status).toBe(200);
    const denied = await post(strict, call(3));
    expect(await denied.json()).toMatchObject({
      id: 3,
      error: { code: -32005, data: { limit: 'FixedWindowRateLimit(2 per 60s)' } },
    });
  });

  test('a ConcurrencyLimit on an HTTP route: its slot is released when the call ends or fails', async () => {
    const { url } = await start({ messagesPerMinute: 100 });
    const slow = `${url}/slow`;
    const waitForCalls = async (count: number) => {
      const deadline = Date.now() + 5000;
      while (slowCalls.length < count && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(slowCalls).toHaveLength(count);
    };
    const first = post(slow, call(1));
    await waitForCalls(1);
    const denied = await post(slow, call(2));
    expect(await denied.json()).toMatchObject({
      id: 2,
      error: { code: -32005, data: { limit: 'ConcurrencyLimit(1 in flight, lease 60s)' } },
    });
    const other = post(slow, call(3), 'u2'); // another user has a slot of their own
    await waitForCalls(2);
    for (const running of slowCalls.splice(0)) running.finish();
    expect((await first).status).toBe(200);
    expect((await other).status).toBe(200);

    const failing = post(slow, call(4));
    await waitForCalls(1);
    slowCalls.shift()!.fail();
    expect((await failing).status).toBe(500);
    const after = post(slow, call(5));
    await waitForCalls(1);
    slowCalls.shift()!.finish();
    expect(await (await after).json()).toMatchObject({ id: 5, result: {} });
  });
});

// Attack review 12: a custom limiter's report fields went to the headers unchecked. One answering
// `{ retryAfter: null, limit: NaN, remaining: 'x' }` (a count read from a database row that was not
// there) made `"msg-custom-1";q=NaN` and `r=NaN`: not a structured field, so a client's parser
// rejects the whole header, the built-in limits' members with it.
test('a custom limiter reporting a quota that is no finite number leaves it out of the headers', async () => {
  const sloppy: McpRateLimiter = {
    consume: () => ({ retryAfter: null, limit: NaN, remaining: 'x' as unknown as number }),
  };
  const infinite: McpRateLimiter = {
    consume: () => ({ retryAfter: null, limit: Infinity, remaining: 3, resetAfter: -5 }),
  };
  const { url } = await start({
    messagesPerMinute: 0,
    messageLimits: [sloppy, infinite, new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 60 })],
  });
  const response = await post(url, call(1));
  expect(response.status).toBe(200);
  expect(response.headers.get('ratelimit-policy')).toBe('"msg-fw:3:60000";q=3;w=60');
  expect(response.headers.get('ratelimit')).toMatch(/^"msg-fw:3:60000";r=2;t=\d+$/);
});

// A structured-field integer has at most 15 digits, and `Retry-After` is digits: a huge finite
// figure (a custom limiter's 1e21, "never") printed by JavaScript as `1e+21` was neither, and a
// client's parser rejects the whole header.
test('huge finite figures reach the headers as digits a client can parse', async () => {
  const huge: McpRateLimiter = {
    consume: () => ({ retryAfter: null, limit: 1e21, remaining: 1e21, resetAfter: 1e21 }),
  };
  const never: McpRateLimiter = { consume: () => 1e21 };
  const admitted = await start({ messagesPerMinute: 0, messageLimits: [huge] });
  const response = await post(admitted.url, call(1));
  expect(response.headers.get('ratelimit-policy')).toBe('"msg-custom-1";q=999999999999999');
  expect(response.headers.get('ratelimit')).toBe(
    '"msg-custom-1";r=999999999999999;t=999999999999999',
  );
  const denied = await start({ messagesPerMinute: 0, messageLimits: [never] });
  const denial = await post(denied.url, call(2));
  expect(denial.headers.get('retry-after')).toMatch(/^\d{1,15}$/);
  const body = (await denial.json()) as { error: { data: { retryAfter: number } } };
  expect(String(body.error.data.retryAfter)).toMatch(/^\d{1,15}$/);
});

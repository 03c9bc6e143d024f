// The sample app (sample-app/), booted on a random port and driven by the official MCP SDK client
// and by plain HTTP: its documented limits hold on the wire.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { startSampleApp, type StartedSampleApp } from '../../sample-app/src/bootstrap.js';

interface Denial {
  code: number;
  message: string;
  data: { retryAfter: number; limit?: string };
}

let sample: StartedSampleApp;
let url: URL;
const clients: Client[] = [];

beforeAll(async () => {
  sample = await startSampleApp({ port: 0, host: '127.0.0.1', logLevels: false });
  url = new URL(sample.mcpUrl);
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await sample?.app.close();
});

/** An SDK client; `user` sends `Authorization: Bearer <user>`, none is anonymous. */
async function connect(user?: string): Promise<Client> {
  const client = new Client({ name: 'sample-e2e', version: '1.0.0' });
  const headers: Record<string, string> =
    user === undefined ? {} : { authorization: `Bearer ${user}` };
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  clients.push(client);
  return client;
}

/** The error a call rejects with; fails the test when it resolves. */
async function denialOf(call: Promise<unknown>): Promise<Denial> {
  const outcome = await call.then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) {
    throw new Error(`expected a denial, got ${JSON.stringify(outcome.result)}`);
  }
  return outcome.error as Denial;
}

function expectRateLimited(denial: Denial, maxRetryAfter: number): void {
  expect(denial.code).toBe(-32005);
  expect(denial.message).toContain('Rate limit exceeded');
  expect(Number.isInteger(denial.data.retryAfter)).toBe(true);
  expect(denial.data.retryAfter).toBeGreaterThanOrEqual(1);
  expect(denial.data.retryAfter).toBeLessThanOrEqual(maxRetryAfter);
}

const textOf = (result: unknown): string =>
  (result as { content: { text: string }[] }).content.map((part) => part.text).join('');

/** Wait for the next clock-aligned window when fewer than `marginMs` remain of the current one. */
async function awayFromWindowEnd(windowMs: number, marginMs: number): Promise<void> {
  const leftMs = windowMs - (Date.now() % windowMs);
  if (leftMs < marginMs) await new Promise((resolve) => setTimeout(resolve, leftMs + 20));
}

describe('the sample app', () => {
  test('demo.echo admits 5 calls per 10 s window, then answers -32005 with data.retryAfter', async () => {
    const client = await connect('echo-user');
    await awayFromWindowEnd(10_000, 3_000);
    for (let call = 1; call <= 5; call++) {
      const result = await client.callTool({
        name: 'demo.echo',
        arguments: { text: `hi ${call}` },
      });
      expect(textOf(result)).toBe(`hi ${call}`);
    }
    const denial = await denialOf(
      client.callTool({ name: 'demo.echo', arguments: { text: 'one too many' } }),
    );
    expectRateLimited(denial, 10);
    expect(denial.data.limit).toBe('FixedWindowRateLimit(5 per 10s)');
  });

  test('demo.lookup admits 2 calls per 10 s, then answers a tool result the model can read', async () => {
    const client = await connect('looker');
    await awayFromWindowEnd(10_000, 3_000);
    for (let call = 0; call < 2; call++) {
      const result = await client.callTool({ name: 'demo.lookup', arguments: { query: 'mcp' } });
      expect(result.isError).toBeFalsy();
      expect(textOf(result)).toContain('mcp: a term worth looking up');
    }
    const denied = await client.callTool({ name: 'demo.lookup', arguments: { query: 'mcp' } });
    expect(denied.isError).toBe(true);
    expect(textOf(denied)).toMatch(
      /^Rate limit exceeded: The tool "demo\.lookup" was not run \(FixedWindowRateLimit\(2 per 10s\)\)\. Retry after \d+ seconds?\.$/,
    );
    expect(denied.structuredContent).toEqual({
      error: 'rate_limited',
      retryAfter: expect.any(Number),
      limit: 'FixedWindowRateLimit(2 per 10s)',
      quota: 2,
      windowSeconds: 10,
    });
  });

  test('demo.free is never limited', async () => {
    const client = await connect('free-user');
    for (let call = 0; call < 30; call++) {
      const result = await client.callTool({ name: 'demo.free', arguments: {} });
      expect(result.isError).toBeFalsy();
      expect(textOf(result)).toBe('free as in beer');
    }
  });

  test('demo.slow runs at most 2 calls per user at once; a finished call frees its slot', async () => {
    const client = await connect('slow-user');
    const call = (ms: number) =>
      client.callTool({ name: 'demo.slow', arguments: { ms } }).then(
        (result) => ({ result, error: undefined }),
        (error: unknown) => ({ result: undefined, error: error as Denial }),
      );
    const outcomes = await Promise.all([call(400), call(400), call(400), call(400), call(400)]);
    const slept = outcomes.filter(({ result }) => result !== undefined);
    expect(slept.map(({ result }) => textOf(result))).toEqual(['slept 400 ms', 'slept 400 ms']);
    const denials = outcomes.filter(({ error }) => error !== undefined);
    expect(denials).toHaveLength(3);
    for (const { error } of denials) {
      expectRateLimited(error!, 60);
      expect(error!.data.limit).toBe('ConcurrencyLimit(2 in flight, lease 60s)');
    }
    // Both calls have ended: their slots are free.
    const again = await Promise.all([call(0), call(0)]);
    expect(again.map(({ error }) => error)).toEqual([undefined, undefined]);
  });

  test('demo.search absorbs a burst of 3, then refills 1 per second', async () => {
    const client = await connect('search-user');
    for (let call = 0; call < 3; call++) {
      await client.callTool({ name: 'demo.search', arguments: { query: 'q' } });
    }
    const denial = await denialOf(
      client.callTool({ name: 'demo.search', arguments: { query: 'q' } }),
    );
    expectRateLimited(denial, 1);
    expect(denial.data.limit).toContain('TokenBucketRateLimit');
    await new Promise((resolve) => setTimeout(resolve, denial.data.retryAfter * 1000));
    const again = await client.callTool({ name: 'demo.search', arguments: { query: 'again' } });
    expect(textOf(again)).toContain('about again');
  });

  test('invoices.create stops at its 3-per-10-s burst limit', async () => {
    const client = await connect('invoice-user');
    for (let call = 0; call < 3; call++) {
      const result = await client.callTool({
        name: 'invoices.create',
        arguments: { customer: 'ACME', amountCents: 1200 },
      });
      expect(JSON.parse(textOf(result))).toMatchObject({ customer: 'ACME', amountCents: 1200 });
    }
    const denial = await denialOf(
      client.callTool({ name: 'invoices.create', arguments: { customer: 'ACME', amountCents: 1 } }),
    );
    expectRateLimited(denial, 10);
    expect(denial.data.limit).toBe('SlidingWindowRateLimit(3 per 10s)');
  });

  test('the resource and the prompt allow 3 per 10 s, per user', async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    for (let call = 0; call < 3; call++) {
      const status = await alice.readResource({ uri: 'demo://status' });
      expect(JSON.parse((status.contents[0] as { text: string }).text)).toMatchObject({ ok: true });
      const prompt = await alice.getPrompt({ name: 'greet', arguments: { name: 'Ada' } });
      expect(JSON.stringify(prompt.messages)).toContain('Say hello to Ada.');
    }
    expectRateLimited(await denialOf(alice.readResource({ uri: 'demo://status' })), 10);
    expectRateLimited(
      await denialOf(alice.getPrompt({ name: 'greet', arguments: { name: 'Ada' } })),
      10,
    );
    // Alice's exhausted quota leaves Bob's whole.
    await bob.readResource({ uri: 'demo://status' });
    await bob.getPrompt({ name: 'greet', arguments: { name: 'Grace' } });
  });

  test('anonymous clients share the quota of their IP address', async () => {
    const first = await connect();
    const second = await connect();
    for (let call = 0; call < 2; call++)
      await first.getPrompt({ name: 'greet', arguments: { name: 'x' } });
    await second.getPrompt({ name: 'greet', arguments: { name: 'y' } });
    expectRateLimited(
      await denialOf(first.getPrompt({ name: 'greet', arguments: { name: 'x' } })),
      10,
    );
    expectRateLimited(
      await denialOf(second.getPrompt({ name: 'greet', arguments: { name: 'y' } })),
      10,
    );
  });

  test('a malformed Authorization header is refused, not treated as anonymous', async () => {
    const response = await post({ authorization: 'Basic bm9wZQ==' }, toolCall(1, 'demo.free'));
    expect(response.status).toBe(401);
  });

  test('each client may send 100 messages per minute; initialize, server/discover, ping, tasks/* and notifications are free', async () => {
    const headers = { authorization: 'Bearer chatty' };
    await awayFromWindowEnd(60_000, 10_000);
    const free = [
      { jsonrpc: '2.0', id: 'init', method: 'initialize', params: initializeParams },
      { jsonrpc: '2.0', id: 'discover', method: 'server/discover', params: {} },
      { jsonrpc: '2.0', id: 'ping', method: 'ping' },
      { jsonrpc: '2.0', id: 'poll', method: 'tasks/get', params: { taskId: 't1' } },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
    ];
    for (let round = 0; round < 10; round++) {
      for (const message of free) {
        const response = await post(headers, message);
        // Answered or refused by the MCP server (tasks are not served here), never rate limited.
        expect(response.status).toBeLessThan(500);
        expect(await response.text()).not.toContain('-32005');
      }
    }
    for (let call = 1; call <= 100; call++) {
      const response = await post(headers, toolCall(call, 'demo.free'));
      expect(response.status).toBe(200);
      expect(((await response.json()) as { result?: unknown }).result).toBeDefined();
    }
    const denied = await post(headers, toolCall(101, 'demo.free'));
    expect(denied.status).toBe(200);
    expect(denied.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(denied.headers.get('ratelimit-policy')).toContain('q=100;w=60');
    const body = (await denied.json()) as { id: unknown; error: Denial };
    expect(body.id).toBe(101);
    expectRateLimited(body.error, 60);
    // Another client is not affected.
    const other = await post({ authorization: 'Bearer quiet' }, toolCall(1, 'demo.free'));
    expect(((await other.json()) as { result?: unknown }).result).toBeDefined();
  });
});

const initializeParams = {
  protocolVersion: '2025-06-18',
  capabilities: {},
  clientInfo: { name: 'curl-like', version: '1.0.0' },
};

function toolCall(id: number, name: string): object {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } };
}

function post(headers: Record<string, string>, body: object): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

describe('the sample admin route', () => {
  const admin = (path: string, method = 'GET', token = 'demo-admin-token') =>
    fetch(new URL(`/admin/limits/${path}`, url), {
      method,
      headers: { 'x-admin-token': token },
    });

  test('peeks at what a user has left and resets it, behind the admin token', async () => {
    await awayFromWindowEnd(10_000, 3_000);
    const client = await connect('admin-demo-user');
    for (let call = 0; call < 5; call++) {
      await client.callTool({ name: 'demo.echo', arguments: { text: 'x' } });
    }
    expectRateLimited(
      await denialOf(client.callTool({ name: 'demo.echo', arguments: { text: 'x' } })),
      10,
    );

    const peeked = await admin('admin-demo-user?tool=demo.echo');
    expect(peeked.status).toBe(200);
    const body = (await peeked.json()) as {
      allowed: boolean;
      limits: { limit: string; remaining: number; quota: number; resetSeconds: number }[];
    };
    expect(body.allowed).toBe(false);
    expect(body.limits).toEqual([
      expect.objectContaining({ remaining: 0, quota: 5, limit: 'FixedWindowRateLimit(5 per 10s)' }),
    ]);

    expect((await admin('admin-demo-user?tool=demo.echo', 'DELETE')).status).toBe(204);
    const again = await client.callTool({ name: 'demo.echo', arguments: { text: 'back' } });
    expect(textOf(again)).toBe('back');

    expect((await admin('admin-demo-user?tool=demo.echo', 'GET', 'wrong')).status).toBe(401);
    expect((await admin('admin-demo-user?tool=demo.nope')).status).toBe(404);
    expect((await admin('admin-demo-user?messages=1')).status).toBe(200);
  });
});

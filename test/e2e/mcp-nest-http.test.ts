// End to end over Streamable HTTP: a real MCP-Nest app and the official MCP SDK client.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { RateLimitEvent } from '../../src/index.js';
import {
  createMcpApp,
  inspectedContexts,
  postMcpMessage,
  type McpApp,
} from '../fixtures/mcp-app.js';

interface Denial {
  code: number;
  message: string;
  data: { retryAfter: number; limit?: string };
}

const clients: Client[] = [];

async function connect(url: URL, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client(
    { name: 'e2e', version: '1.0.0' },
    { capabilities: { roots: { listChanged: true } } },
  );
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  clients.push(client);
  return client;
}

const asUser = (id: string) => ({ authorization: `Bearer user:${id}` });

/** The error a call rejects with, or fails the test when it resolves. */
async function denialOf(call: Promise<unknown>): Promise<Denial> {
  const outcome = await call.then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome))
    throw new Error(`expected a denial, got ${JSON.stringify(outcome.result)}`);
  return outcome.error as Denial;
}

function expectRateLimited(denial: Denial): void {
  expect(denial.code).toBe(-32005);
  expect(denial.message).toContain('Rate limit exceeded');
  expect(Number.isInteger(denial.data.retryAfter)).toBe(true);
  expect(denial.data.retryAfter).toBeGreaterThanOrEqual(1);
}

const textOf = (result: unknown) =>
  (result as { content: { text: string }[] }).content.map((part) => part.text).join('');

describe('MCP-Nest over Streamable HTTP', () => {
  let server: McpApp;
  let url: URL;
  const events: RateLimitEvent[] = [];

  beforeAll(async () => {
    server = await createMcpApp({ transport: 'http', events });
    url = server.url!;
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await server?.app.close();
  });

  test('a limited tool admits its quota, then answers JSON-RPC -32005 with data.retryAfter', async () => {
    const client = await connect(url, asUser('tool-user'));
    // Align to the start of a 2 s window, so all four calls fall in the same one.
    await new Promise((resolve) => setTimeout(resolve, 2000 - (Date.now() % 2000) + 20));
    for (let call = 0; call < 3; call++) {
      const result = await client.callTool({ name: 'search', arguments: { query: 'q' } });
      expect(result.isError).toBeFalsy();
      expect(textOf(result)).toContain('results for q');
    }
    const denial = await denialOf(client.callTool({ name: 'search', arguments: { query: 'q' } }));
    expectRateLimited(denial);
    expect(denial.data.retryAfter).toBeLessThanOrEqual(2);
    expect(denial.data.limit).toBe('FixedWindowRateLimit(3 per 2s)');

    // After retryAfter seconds the same call is admitted again.
    await new Promise((resolve) => setTimeout(resolve, denial.data.retryAfter * 1000));
    const again = await client.callTool({ name: 'search', arguments: { query: 'again' } });
    expect(textOf(again)).toContain('results for again');

    const denied = events.filter((event) => event.type === 'denied' && event.target === 'search');
    expect(denied.length).toBeGreaterThanOrEqual(1);
    expect(denied[0]).toMatchObject({
      scope: 'handler',
      handler: 'LimitedTools.search',
      subject: 'user:tool-user',
      method: 'tools/call',
    });
  });

  test('a custom limiter sees the call: subject, method, target, arguments, request, cost', async () => {
    const client = await connect(url, asUser('inspector'));
    const result = await client.callTool({ name: 'inspect', arguments: { topic: 'rates' } });
    expect(textOf(result)).toContain('inspected rates');
    expect(inspectedContexts.at(-1)).toEqual({
      subject: 'user:inspector',
      method: 'tools/call',
      target: 'inspect',
      args: { topic: 'rates' },
      cost: 1,
      hasRequest: true,
    });
  });

  test('a resource read and a prompt get are denied with -32005 too', async () => {
    const client = await connect(url, asUser('reader'));
    for (let call = 0; call < 2; call++) {
      const read = await client.readResource({ uri: 'mcp://docs/readme' });
      expect(JSON.stringify(read)).toContain('read me');
      const prompt = await client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } });
      expect(JSON.stringify(prompt)).toContain('Hello Ada');
    }
    expectRateLimited(await denialOf(client.readResource({ uri: 'mcp://docs/readme' })));
    expectRateLimited(
      await denialOf(client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } })),
    );
  });

  test('two users (different bearer tokens) have separate quotas', async () => {
    const alice = await connect(url, asUser('alice'));
    const bob = await connect(url, asUser('bob'));
    await alice.callTool({ name: 'browse', arguments: {} });
    await alice.callTool({ name: 'browse', arguments: {} });
    expectRateLimited(await denialOf(alice.callTool({ name: 'browse', arguments: {} })));
    // Alice's exhausted quota leaves Bob's whole.
    expect(textOf(await bob.callTool({ name: 'browse', arguments: {} }))).toContain('browse');
    expect(textOf(await bob.callTool({ name: 'browse', arguments: {} }))).toContain('browse');
    expectRateLimited(await denialOf(bob.callTool({ name: 'browse', arguments: {} })));
  });

  test('anonymous clients are keyed by IP (request.ip, honouring trust proxy)', async () => {
    // The app trusts the loopback proxy, so X-Forwarded-For sets request.ip.
    const first = await connect(url, { 'x-forwarded-for': '203.0.113.7' });
    const sameIp = await connect(url, { 'x-forwarded-for': '203.0.113.7' });
    const otherIp = await connect(url, { 'x-forwarded-for': '198.51.100.9' });
    await first.callTool({ name: 'lookup', arguments: {} });
    await sameIp.callTool({ name: 'lookup', arguments: {} });
    // Two connections, one IP, one quota of 2.
    expectRateLimited(await denialOf(first.callTool({ name: 'lookup', arguments: {} })));
    expect(textOf(await otherIp.callTool({ name: 'lookup', arguments: {} }))).toContain('lookup');
    const denied = events.find((event) => event.type === 'denied' && event.target === 'lookup');
    expect(denied?.subject).toBe('ip:203.0.113.7');
  });

  test('class-level limits apply to every handler (own counters each); @SkipRateLimit exempts', async () => {
    const client = await connect(url, asUser('catalog'));
    // lookup: class limit 2 AND its own 10 — the class limit decides.
    await client.callTool({ name: 'lookup', arguments: {} });
    await client.callTool({ name: 'lookup', arguments: {} });
    const denial = await denialOf(client.callTool({ name: 'lookup', arguments: {} }));
    expectRateLimited(denial);
    expect(denial.data.limit).toBe('FixedWindowRateLimit(2 per 60s)');
    // browse has the class limit too, with its own counters: still 2 left.
    await client.callTool({ name: 'browse', arguments: {} });
    await client.callTool({ name: 'browse', arguments: {} });
    expectRateLimited(await denialOf(client.callTool({ name: 'browse', arguments: {} })));
    // catalog_health is exempt from the class limit.
    for (let call = 0; call < 5; call++) {
      expect(textOf(await client.callTool({ name: 'catalog_health', arguments: {} }))).toBe('"ok"');
    }
    // An undecorated tool is never limited.
    for (let call = 0; call < 5; call++) {
      expect(textOf(await client.callTool({ name: 'unlimited', arguments: {} }))).toBe('"free"');
    }
  });

  test('a RateLimitExceededException thrown by a tool itself becomes -32005 through the filter', async () => {
    const client = await connect(url, asUser('manual'));
    const denial = await denialOf(client.callTool({ name: 'manual', arguments: {} }));
    expectRateLimited(denial);
    expect(denial.data.retryAfter).toBe(9);
  });

  test('an injectable limiter class is resolved through Nest DI', async () => {
    const client = await connect(url, asUser('org'));
    await client.callTool({ name: 'org_quota', arguments: {} });
    await client.callTool({ name: 'org_quota', arguments: {} });
    const denial = await denialOf(client.callTool({ name: 'org_quota', arguments: {} }));
    expectRateLimited(denial);
    expect(denial.data.retryAfter).toBe(30);
  });

  test('per-call cost from the arguments', async () => {
    const client = await connect(url, asUser('bulk'));
    expect(textOf(await client.callTool({ name: 'bulk', arguments: { count: 3 } }))).toContain(
      'processed 3',
    );
    // 2 tokens left: a call costing 3 is denied and consumes nothing...
    expectRateLimited(await denialOf(client.callTool({ name: 'bulk', arguments: { count: 3 } })));
    // ...so a call costing 2 still fits.
    expect(textOf(await client.callTool({ name: 'bulk', arguments: { count: 2 } }))).toContain(
      'processed 2',
    );
    expectRateLimited(await denialOf(client.callTool({ name: 'bulk', arguments: { count: 1 } })));
  });

  test('limits chosen from the context: a paid user has a higher quota', async () => {
    const free = await connect(url, asUser('tier-free'));
    const paid = await connect(url, { authorization: 'Bearer user:tier-paid:paid' });
    await free.callTool({ name: 'tiered', arguments: {} });
    expectRateLimited(await denialOf(free.callTool({ name: 'tiered', arguments: {} })));
    for (let call = 0; call < 3; call++) await paid.callTool({ name: 'tiered', arguments: {} });
    expectRateLimited(await denialOf(paid.callTool({ name: 'tiered', arguments: {} })));
  });

  test('tools/list and notifications are never limited', async () => {
    const client = await connect(url, asUser('lister'));
    for (let call = 0; call < 20; call++) {
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name)).toContain('search');
    }
    for (let call = 0; call < 20; call++) await client.sendRootsListChanged();
    expect(events.some((event) => event.subject === 'user:lister')).toBe(false);
  });
});

describe('MCP-Nest over Streamable HTTP with a message-level limit', () => {
  let server: McpApp;
  let url: URL;
  const events: RateLimitEvent[] = [];

  beforeAll(async () => {
    server = await createMcpApp({ transport: 'http', messageLimit: 5, events });
    url = server.url!;
  });

  afterAll(async () => {
    await server?.app.close();
  });

  test('only requests count: initialize, ping and notifications never do', async () => {
    // initialize (excluded) + notifications/initialized (a notification).
    const client = await connect(url, asUser('messenger'));
    for (let call = 0; call < 10; call++) await client.ping();
    for (let call = 0; call < 10; call++) await client.sendRootsListChanged();
    // Five counted requests are admitted...
    for (let call = 0; call < 5; call++) await client.listTools();
    // ...the sixth is denied at the HTTP endpoint, as a JSON-RPC error the client reads.
    const outcome = await client.listTools().then(
      () => undefined,
      (error: unknown) => error as Denial,
    );
    expect(outcome).toBeDefined();
    expectRateLimited(outcome!);
    // Excluded methods still pass once the quota is spent.
    await client.ping();
    const counted = events.filter((event) => event.scope === 'message');
    expect(counted.filter((event) => event.type === 'allowed')).toHaveLength(5);
    expect(counted.filter((event) => event.type === 'denied')).toHaveLength(1);
    expect(counted.every((event) => event.subject === 'user:messenger')).toBe(true);
  });

  test('the endpoint sends RateLimit and RateLimit-Policy headers', async () => {
    const response = await postMcpMessage(url, 'headers', {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/list',
      params: {},
    });
    expect(response.headers.get('ratelimit-policy')).toBe('"msg-fw:5:60000";q=5;w=60');
    expect(response.headers.get('ratelimit')).toMatch(/^"msg-fw:5:60000";r=4;t=\d+$/);
  });

  test('a limited tool call on /mcp: the headers speak of the message limit only', async () => {
    const response = await postMcpMessage(url, 'tool-headers', {
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'search', arguments: { query: 'q' } },
    });
    expect(await response.text()).toContain('results for q');
    // The tool's own limit (3 per 2 s) is decided in the MCP handler, which has no HTTP response.
    expect(response.headers.get('ratelimit-policy')).toBe('"msg-fw:5:60000";q=5;w=60');
    expect(response.headers.get('ratelimit')).toMatch(/^"msg-fw:5:60000";r=4;t=\d+$/);
  });
});

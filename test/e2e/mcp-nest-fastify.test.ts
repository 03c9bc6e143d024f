// MCP-Nest over Streamable HTTP on Nest's Fastify adapter: the same app and SDK client as on
// Express, for what depends on the platform (the raw request behind the MCP context, the headers).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { RateLimitEvent } from '../../src/index.js';
import { createMcpApp, postMcpMessage, type McpApp } from '../fixtures/mcp-app.js';

describe('MCP-Nest over Streamable HTTP on Fastify', () => {
  let server: McpApp;
  let url: URL;
  const events: RateLimitEvent[] = [];
  const clients: Client[] = [];

  async function connect(user: string): Promise<Client> {
    const client = new Client({ name: 'e2e-fastify', version: '1.0.0' });
    const headers = { authorization: `Bearer user:${user}` };
    await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    server = await createMcpApp({
      transport: 'http',
      platform: 'fastify',
      messageLimit: 50,
      events,
    });
    url = server.url!;
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await server?.app.close();
  });

  test('a limited tool denies with -32005 per user, keyed by the user behind the Fastify request', async () => {
    const alice = await connect('fastify-alice');
    const bob = await connect('fastify-bob');
    await alice.callTool({ name: 'browse', arguments: {} });
    await alice.callTool({ name: 'browse', arguments: {} });
    await expect(alice.callTool({ name: 'browse', arguments: {} })).rejects.toMatchObject({
      code: -32005,
      data: { retryAfter: expect.any(Number) },
    });
    // Bob has a quota of his own.
    await expect(bob.callTool({ name: 'browse', arguments: {} })).resolves.toBeDefined();
    const browse = events.filter((event) => event.target === 'browse' && event.scope === 'handler');
    expect(browse.map((event) => [event.subject, event.type])).toEqual([
      ['user:fastify-alice', 'allowed'],
      ['user:fastify-alice', 'allowed'],
      ['user:fastify-alice', 'denied'],
      ['user:fastify-bob', 'allowed'],
    ]);
  });

  test('the endpoint sends the message-level RateLimit headers through Fastify', async () => {
    const response = await postMcpMessage(url, 'fastify-headers', {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/list',
      params: {},
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('ratelimit-policy')).toBe('"msg-fw:50:60000";q=50;w=60');
    expect(response.headers.get('ratelimit')).toMatch(/^"msg-fw:50:60000";r=49;t=\d+$/);
  });
});

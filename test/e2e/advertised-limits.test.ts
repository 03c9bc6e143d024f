// Limits an agent can see (issue 19 §4), end to end with the official MCP SDK client: the
// `advertiseLimits` option puts each handler's limits in tools/list and resources/list `_meta`,
// and the caller's quota in an admitted tool result's `_meta`.
import { afterEach, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { LIMITS_META_KEY, QUOTA_META_KEY } from '../../src/nest/advertised-limits.js';
import { createMcpApp, type McpApp } from '../fixtures/mcp-app.js';

const apps: McpApp[] = [];
const clients: Client[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(apps.splice(0).map((server) => server.app.close()));
});

async function start(advertiseLimits: boolean | undefined, user: string): Promise<Client> {
  const server = await createMcpApp({
    transport: 'http',
    moduleOptions: advertiseLimits === undefined ? {} : { advertiseLimits },
  });
  apps.push(server);
  const client = new Client({ name: 'advertised-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(server.url!, {
      requestInit: { headers: { authorization: `Bearer user:${user}` } },
    }),
  );
  clients.push(client);
  return client;
}

const metaOf = (item: { _meta?: Record<string, unknown> } | undefined) => item?._meta ?? {};

describe('advertiseLimits', () => {
  test('the keys follow the _meta rules: a reverse-DNS prefix MCP does not reserve', () => {
    for (const key of [LIMITS_META_KEY, QUOTA_META_KEY]) {
      const [prefix, name] = key.split('/');
      const labels = prefix.split('.');
      expect(labels.every((label) => /^[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?$/.test(label))).toBe(
        true,
      );
      expect(['modelcontextprotocol', 'mcp']).not.toContain(labels[1]);
      expect(name).toMatch(/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/);
    }
  });

  test('tools/list and resources/list carry the limits; a tool result carries the quota left', async () => {
    const client = await start(true, 'agent-1');
    const { tools } = await client.listTools();
    const echo = tools.find((tool) => tool.name === 'quota_echo');
    expect(metaOf(echo)[LIMITS_META_KEY]).toEqual([
      { limit: 'FixedWindowRateLimit(5 per 60s)', quota: 5, windowSeconds: 60 },
    ]);
    // Class and method limits both; every choice of a limitByContext handler.
    expect(metaOf(tools.find((tool) => tool.name === 'lookup'))[LIMITS_META_KEY]).toHaveLength(2);
    expect(metaOf(tools.find((tool) => tool.name === 'tiered'))[LIMITS_META_KEY]).toHaveLength(2);
    expect(
      metaOf(tools.find((tool) => tool.name === 'unlimited'))[LIMITS_META_KEY],
    ).toBeUndefined();
    const { resources } = await client.listResources();
    expect(metaOf(resources.find((r) => r.uri === 'mcp://docs/readme'))[LIMITS_META_KEY]).toEqual([
      { limit: 'FixedWindowRateLimit(2 per 60s)', quota: 2, windowSeconds: 60 },
    ]);

    const first = await client.callTool({ name: 'quota_echo', arguments: { text: 'a' } });
    const second = await client.callTool({ name: 'quota_echo', arguments: { text: 'b' } });
    const quotaOf = (result: { _meta?: Record<string, unknown> }) =>
      metaOf(result)[QUOTA_META_KEY] as {
        remaining: number;
        resetSeconds: number;
        quota: number;
      }[];
    expect(quotaOf(first)).toEqual([
      expect.objectContaining({ quota: 5, windowSeconds: 60, remaining: 4 }),
    ]);
    expect(quotaOf(second)[0].remaining).toBe(3);
    expect(quotaOf(second)[0].resetSeconds).toBeGreaterThanOrEqual(1);
    expect(quotaOf(second)[0].resetSeconds).toBeLessThanOrEqual(60);
    expect((second.content as { text: string }[])[0].text).toBe('b');
  });

  test('off by default: no limits listed, no quota in results (even after an app that had it on)', async () => {
    const on = await start(true, 'agent-2');
    await on.listTools();
    const client = await start(undefined, 'agent-3');
    const { tools } = await client.listTools();
    expect(
      metaOf(tools.find((tool) => tool.name === 'quota_echo'))[LIMITS_META_KEY],
    ).toBeUndefined();
    const result = await client.callTool({ name: 'quota_echo', arguments: { text: 'a' } });
    expect(metaOf(result)[QUOTA_META_KEY]).toBeUndefined();
  });

  test('an app keeps the limits it lists when a later app of the same classes has the option off', async () => {
    const on = await start(true, 'agent-4');
    await start(undefined, 'agent-5');
    const { tools } = await on.listTools();
    expect(metaOf(tools.find((tool) => tool.name === 'quota_echo'))[LIMITS_META_KEY]).toEqual([
      { limit: 'FixedWindowRateLimit(5 per 60s)', quota: 5, windowSeconds: 60 },
    ]);
  });
});

// Attack review 7 (attack7a): with OpenTelemetry metrics on (the `metrics` option, or any global
// meter provider, which turns them on by default), the module wraps the store in a timing wrapper
// (telemetry.ts `timeStore`) that forwards evaluate, peek, refund and reset but not `resetAt`. The
// outage policy (ResilientStore) then cannot read Redis's reset markers: the fix of attack3 ("a
// reset on one instance reaches the insurance record of every instance") is silently undone, and a
// support reset on one instance leaves the user denied on the others until the window ends, while
// peek says the quota is whole. Same setup as test/e2e/limits-admin-instances.test.ts, metrics on.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { McpRateLimitService, RedisStore } from '../../src/index.js';
import { createMcpApp, type McpApp } from '../fixtures/mcp-app.js';
import { REDIS_URL, redisDescribe } from '../redis/redis-available.js';

const describeRedis = await redisDescribe('a reset across instances with metrics on');

describeRedis('a reset across instances with metrics on', () => {
  const servers: McpApp[] = [];
  const stores: RedisStore[] = [];
  const clients: Client[] = [];
  const providers: MeterProvider[] = [];
  const user = `mreset${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const subject = `user:${user}`;

  beforeAll(async () => {
    for (let instance = 0; instance < 2; instance++) {
      const store = RedisStore.fromUrl(REDIS_URL);
      stores.push(store);
      const meterProvider = new MeterProvider();
      providers.push(meterProvider);
      servers.push(
        await createMcpApp({
          transport: 'http',
          moduleOptions: { store, metrics: { meterProvider } },
        }),
      );
    }
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await Promise.all(servers.map((server) => server.app.close()));
    await Promise.all(stores.map((store) => store.close()));
    await Promise.all(providers.map((provider) => provider.shutdown()));
  });

  async function connect(server: McpApp): Promise<Client> {
    const client = new Client({ name: 'reset-instances-metrics', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(server.url!, {
        requestInit: { headers: { authorization: `Bearer ${subject}` } },
      }),
    );
    clients.push(client);
    return client;
  }

  // DEFECT (attack7a): RateLimitMetrics.timeStore does not forward resetAt.
  test('a reset on one instance gives the user a fresh allowance on every instance', async () => {
    const [admin, serving] = servers;
    const client = await connect(serving);
    // `browse`: 2 per minute (its class's limit).
    await client.callTool({ name: 'browse', arguments: {} });
    await client.callTool({ name: 'browse', arguments: {} });
    await expect(client.callTool({ name: 'browse', arguments: {} })).rejects.toMatchObject({
      code: -32005,
    });

    await admin.app.get(McpRateLimitService).reset({ tool: 'browse' }, subject);
    const peeked = await serving.app.get(McpRateLimitService).peek({ tool: 'browse' }, subject);
    expect(peeked.results.map((result) => result.remaining)).toEqual([2]);

    const again = await client.callTool({ name: 'browse', arguments: {} });
    expect(again.isError).toBeFalsy();
  });
});

// Attack review (attack3): McpRateLimitService.reset in a deployment of several instances on one
// Redis (the reason to use Redis). Two real MCP-Nest apps on the shared Redis, the official MCP SDK
// client, the default outage policy (insurance). Once more with OpenTelemetry metrics on (attack
// review 7): the module then times the store through a wrapper, which dropped `resetAt`, so the
// insurance of the other instances never learned of the reset.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { McpRateLimitService, RedisStore } from '../../src/index.js';
import { createMcpApp, type McpApp } from '../fixtures/mcp-app.js';
import { REDIS_URL, redisDescribe } from '../redis/redis-available.js';

const describeRedis = await redisDescribe('reset with two instances on one Redis');

for (const metricsOn of [false, true]) {
  describeRedis(
    `reset with two instances on one Redis, metrics ${metricsOn ? 'on' : 'off'}`,
    () => {
      const servers: McpApp[] = [];
      const stores: RedisStore[] = [];
      const clients: Client[] = [];
      const providers: MeterProvider[] = [];
      // A user of its own per run: the Redis counters outlive the test.
      const user = `reset${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
      const subject = `user:${user}`;

      beforeAll(async () => {
        for (let instance = 0; instance < 2; instance++) {
          const store = RedisStore.fromUrl(REDIS_URL);
          stores.push(store);
          const meterProvider = metricsOn ? new MeterProvider() : undefined;
          if (meterProvider !== undefined) providers.push(meterProvider);
          const metrics = meterProvider === undefined ? false : { meterProvider };
          servers.push(
            await createMcpApp({ transport: 'http', moduleOptions: { store, metrics } }),
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
        const client = new Client({ name: 'reset-instances', version: '1.0.0' });
        await client.connect(
          new StreamableHTTPClientTransport(server.url!, {
            requestInit: { headers: { authorization: `Bearer ${subject}` } },
          }),
        );
        clients.push(client);
        return client;
      }

      // DEFECT (attack3): the insurance record (ResilientStore, onStoreError 'insurance', the default)
      // of every instance counts the calls it admitted, and a reset clears only the record of the
      // instance it was made on (and Redis). On the other instances the record still holds the used-up
      // quota: Redis admits the call, the record denies it ("the store lost state") and gives Redis its
      // unit back. So a support reset does not reach the traffic of the other instances until the
      // window ends (an hour, a day), while peek on every instance says the quota is whole.
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
    },
  );
}

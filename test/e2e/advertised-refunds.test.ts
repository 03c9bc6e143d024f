// Attack review (attack3): the quota an admitted tool result advertises (`advertiseLimits`) when
// `refundWhen` gives the call's charge back. A real MCP-Nest app, the official MCP SDK client.
import { afterEach, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { McpRateLimitService } from '../../src/index.js';
import { QUOTA_META_KEY } from '../../src/nest/advertised-limits.js';
import { createMcpApp, type McpApp } from '../fixtures/mcp-app.js';

const apps: McpApp[] = [];
const clients: Client[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(apps.splice(0).map((server) => server.app.close()));
});

const remainingOf = (result: { _meta?: Record<string, unknown> }) =>
  (result._meta?.[QUOTA_META_KEY] as { remaining: number }[] | undefined)?.map(
    (quota) => quota.remaining,
  );

// Found by an attack review: the interceptor put the quota in the result (the remaining of the
// admission) before `refundWhen` gave the call's units back, so a refunded call advertised one
// unit less than the caller had: at the last unit `remaining: 0` with a `resetSeconds`, and the
// README's pacing loop waited out the window for nothing. A refunded call advertises none now.
test('a refunded tool call advertises the quota the caller has after the refund', async () => {
  const server = await createMcpApp({
    transport: 'http',
    moduleOptions: {
      advertiseLimits: true,
      // A tool result that says it did nothing (here: the text `nothing`) is not charged.
      refundWhen: (outcome) =>
        (outcome.result as { content?: { text?: string }[] } | undefined)?.content?.[0]?.text ===
        'nothing',
    },
  });
  apps.push(server);
  const client = new Client({ name: 'advertised-refunds', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(server.url!, {
      requestInit: { headers: { authorization: 'Bearer user:refunded-agent' } },
    }),
  );
  clients.push(client);
  // `quota_echo`: 5 per minute.
  const refunded = await client.callTool({ name: 'quota_echo', arguments: { text: 'nothing' } });
  const peeked = await server.app
    .get(McpRateLimitService)
    .peek({ tool: 'quota_echo' }, 'user:refunded-agent');
  expect(peeked.results.map((result) => result.remaining)).toEqual([5]);
  expect(remainingOf(refunded) ?? [5]).toEqual([5]);
});

// Peek and reset per handler (issue 19 §2) on McpRateLimitService, against a real MCP-Nest app
// driven by the official MCP SDK client: in memory, and on Redis (the shared server).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import {
  McpRateLimitService,
  RateLimitConfigError,
  RedisStore,
  type RateLimitStore,
} from '../../src/index.js';
import { createMcpApp, type McpApp } from '../fixtures/mcp-app.js';
import { REDIS_URL, redisDescribe } from '../redis/redis-available.js';

const remainingOf = (decision: { results: readonly { remaining: number | undefined }[] }) =>
  decision.results.map((result) => result.remaining);

function suite(
  name: string,
  describeIt: typeof describe | typeof describe.skip,
  makeStore: () => RateLimitStore | undefined,
) {
  describeIt(name, () => {
    let server: McpApp;
    let limits: McpRateLimitService;
    let store: RateLimitStore | undefined;
    const clients: Client[] = [];
    // Users of their own per run: the Redis counters outlive the test.
    const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

    async function as(user: string): Promise<Client> {
      const client = new Client({ name: 'admin-e2e', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(server.url!, {
          requestInit: { headers: { authorization: `Bearer user:${user}` } },
        }),
      );
      clients.push(client);
      return client;
    }

    beforeAll(async () => {
      store = makeStore();
      server = await createMcpApp({
        transport: 'http',
        messageLimit: 50,
        moduleOptions: store === undefined ? {} : { store },
      });
      limits = server.app.get(McpRateLimitService);
    });

    afterAll(async () => {
      await Promise.all(clients.map((client) => client.close()));
      await server?.app.close();
      await (store as { close?: () => Promise<void> } | undefined)?.close?.();
    });

    test('peek tells what is left without consuming; reset gives the user a fresh allowance', async () => {
      const user = `ann${run}`;
      const subject = `user:${user}`;
      const client = await as(user);
      expect(remainingOf(await limits.peek({ tool: 'browse' }, subject))).toEqual([2]);
      await client.callTool({ name: 'browse', arguments: {} });
      const peeked = await limits.peek({ tool: 'browse' }, subject);
      expect(peeked.allowed).toBe(true);
      expect(remainingOf(peeked)).toEqual([1]);
      expect(peeked.results[0].quota).toBe(2);
      expect(remainingOf(await limits.peek({ tool: 'browse' }, subject))).toEqual([1]);
      await client.callTool({ name: 'browse', arguments: {} });
      const spent = await limits.peek({ tool: 'browse' }, subject);
      expect(spent.allowed).toBe(false);
      expect(spent.retryAfter).toBeGreaterThanOrEqual(1);
      await expect(client.callTool({ name: 'browse', arguments: {} })).rejects.toMatchObject({
        code: -32005,
      });

      // Another user is untouched by the reset, and was never charged by the peeks.
      const other = `bob${run}`;
      await (await as(other)).callTool({ name: 'browse', arguments: {} });
      await limits.reset({ tool: 'browse' }, subject);
      expect(remainingOf(await limits.peek({ tool: 'browse' }, subject))).toEqual([2]);
      expect(remainingOf(await limits.peek({ tool: 'browse' }, `user:${other}`))).toEqual([1]);
      const again = await client.callTool({ name: 'browse', arguments: {} });
      expect(again.isError).toBeFalsy();
    });

    test('a handler with limitByContext choices: peek follows the request, reset clears every choice', async () => {
      const user = `cid${run}`;
      const subject = `user:${user}`;
      const client = await as(user);
      await client.callTool({ name: 'tiered', arguments: {} });
      await expect(client.callTool({ name: 'tiered', arguments: {} })).rejects.toMatchObject({
        code: -32005,
      });
      // Without a request, the first choice (free); with a paid user's request, the paid limit.
      expect((await limits.peek({ tool: 'tiered' }, subject)).allowed).toBe(false);
      const paid = await limits.peek({ tool: 'tiered' }, subject, {
        request: { user: { id: user, plan: 'paid' } },
      });
      expect(paid.results[0].quota).toBe(3);
      // The same user on the paid plan spends the paid limit too.
      const paidClient = await as(`${user}:paid`);
      for (let call = 0; call < 3; call++)
        await paidClient.callTool({ name: 'tiered', arguments: {} });
      await expect(paidClient.callTool({ name: 'tiered', arguments: {} })).rejects.toMatchObject({
        code: -32005,
      });
      await limits.reset({ tool: 'tiered' }, subject);
      expect((await client.callTool({ name: 'tiered', arguments: {} })).isError).toBeFalsy();
      expect((await paidClient.callTool({ name: 'tiered', arguments: {} })).isError).toBeFalsy();
    });

    test('resources by URI, prompts by name, any handler by Class.method, and the message-level limit', async () => {
      const user = `dee${run}`;
      const subject = `user:${user}`;
      const client = await as(user);
      await client.readResource({ uri: 'mcp://docs/readme' });
      await client.getPrompt({ name: 'greet', arguments: { name: 'x' } });
      await client.callTool({ name: 'lookup', arguments: {} });
      expect(remainingOf(await limits.peek({ resource: 'mcp://docs/readme' }, subject))).toEqual([
        1,
      ]);
      expect(remainingOf(await limits.peek({ prompt: 'greet' }, subject))).toEqual([1]);
      // The class's limit (2) and the method's own (10).
      expect(remainingOf(await limits.peek({ handler: 'CatalogTools.lookup' }, subject))).toEqual([
        1, 9,
      ]);
      await limits.reset({ handler: 'CatalogTools.lookup' }, subject);
      expect(remainingOf(await limits.peek({ tool: 'lookup' }, subject))).toEqual([2, 10]);

      const messages = await limits.peek('messages', subject);
      expect(messages.results[0].quota).toBe(50);
      expect(messages.results[0].remaining).toBeLessThan(50);
      await limits.reset('messages', subject);
      expect(remainingOf(await limits.peek('messages', subject))).toEqual([50]);
    });

    test('unknown names, bad targets and bad subjects are clear errors', async () => {
      await expect(limits.peek({ tool: 'nope' }, 'user:x')).rejects.toThrow(
        /no rate-limited tool "nope" \(limited: .*browse.*search/,
      );
      await expect(limits.reset({ tool: 'unlimited' }, 'user:x')).rejects.toThrow(
        /no rate-limited tool "unlimited"/,
      );
      // A configuration error like the others of the library, for an admin route to tell apart.
      await expect(limits.peek({ tool: 'nope' }, 'user:x')).rejects.toBeInstanceOf(
        RateLimitConfigError,
      );
      await expect(limits.peek({ widget: 'x' } as never, 'user:x')).rejects.toThrow(
        /a target is \{ tool \}/,
      );
      await expect(limits.reset({ tool: 'browse' }, '')).rejects.toThrow(/non-empty string/);
    });
  });
}

suite('peek and reset per handler, in memory', describe, () => undefined);

const withRedis = await redisDescribe('peek and reset per handler, on Redis');
suite('peek and reset per handler, on Redis', withRedis, () => RedisStore.fromUrl(REDIS_URL));

// What a client on the MCP SDK v1 (`@modelcontextprotocol/sdk`, what many agents still run) sees of
// a denial from an MCP-Nest 2 server: the README's table says an `McpError` with `code` -32005 and
// `data.retryAfter`, for tools, resources and prompts alike. Checked here with the real v1 client.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { createMcpApp, type McpApp } from '../fixtures/mcp-app.js';

describe('an MCP SDK v1 client', () => {
  let server: McpApp;
  let client: Client;

  beforeAll(async () => {
    server = await createMcpApp({ transport: 'http' });
    client = new Client({ name: 'sdk-v1-e2e', version: '1.0.0' });
    const user = `v1-${Date.now().toString(36)}`;
    await client.connect(
      new StreamableHTTPClientTransport(server.url!, {
        requestInit: { headers: { authorization: `Bearer user:${user}` } },
      }),
    );
  });

  afterAll(async () => {
    await client?.close();
    await server?.app.close();
  });

  /**
   * The first rejection among five calls of a handler limited to 2 per minute (its third call,
   * unless a clock-aligned window starts between them).
   */
  async function denialOf(call: () => Promise<unknown>): Promise<unknown> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const rejection: unknown = await call().then(
        () => undefined,
        (error: unknown) => error ?? null,
      );
      if (rejection !== undefined) return rejection;
    }
    return undefined;
  }

  const expectDenial = (error: unknown) => {
    expect(error).toBeInstanceOf(McpError);
    const { code, message, data } = error as McpError;
    expect({ code, message }).toEqual({
      code: -32005,
      message: 'MCP error -32005: Rate limit exceeded',
    });
    expect((data as { retryAfter: unknown }).retryAfter).toEqual(expect.any(Number));
    expect((data as { retryAfter: number }).retryAfter).toBeGreaterThanOrEqual(1);
  };

  test('a tool call is rejected with McpError -32005 and data.retryAfter', async () => {
    expectDenial(await denialOf(() => client.callTool({ name: 'browse', arguments: {} })));
  });

  test('so is a resource read', async () => {
    expectDenial(await denialOf(() => client.readResource({ uri: 'mcp://docs/readme' })));
  });

  test('and a prompt', async () => {
    expectDenial(
      await denialOf(() => client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } })),
    );
  });
});

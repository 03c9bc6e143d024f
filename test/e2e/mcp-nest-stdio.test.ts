// End to end over STDIO: the same MCP-Nest app as a spawned process, the SDK's stdio client.
// There is no HTTP request on STDIO: the subject is the MCP session (one per process).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { transpileForNode } from '../fixtures/transpile.js';

describe('MCP-Nest over STDIO', () => {
  let client: Client;
  let stderr = '';

  beforeAll(async () => {
    const out = transpileForNode('stdio');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [join(out, 'test', 'fixtures', 'stdio-server.js')],
      env: { ...getDefaultEnvironment(), E2E_DECISIONS: 'stderr' },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    client = new Client({ name: 'e2e-stdio', version: '1.0.0' });
    await client.connect(transport);
  }, 60_000);

  afterAll(async () => {
    await client?.close();
  });

  test('a limited tool is denied with JSON-RPC -32005 and data.retryAfter', async () => {
    await client.callTool({ name: 'browse', arguments: {} });
    await client.callTool({ name: 'browse', arguments: {} });
    const outcome = await client.callTool({ name: 'browse', arguments: {} }).then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    );
    expect(outcome).toHaveProperty('error');
    const denial = (outcome as { error: { code: number; data: { retryAfter: number } } }).error;
    expect(denial.code).toBe(-32005);
    expect(denial.data.retryAfter).toBeGreaterThanOrEqual(1);
    expect(denial.data.retryAfter).toBeLessThanOrEqual(60);
    // An exempt tool still answers.
    const health = await client.callTool({ name: 'catalog_health', arguments: {} });
    expect(health.isError).toBeFalsy();
    // The server wrote nothing but decision events; every call was keyed by the one STDIO session.
    const lines = stderr.split('\n').filter((line) => line.length > 0);
    expect(lines.every((line) => line.startsWith('decision '))).toBe(true);
    const browse = lines
      .map(
        (line) =>
          JSON.parse(line.slice('decision '.length)) as {
            subject: string;
            target?: string;
            type: string;
          },
      )
      .filter((event) => event.target === 'browse');
    expect(browse.map((event) => event.type)).toEqual(['allowed', 'allowed', 'denied']);
    expect(new Set(browse.map((event) => event.subject))).toEqual(new Set(['session:stdio']));
  });

  test('resources and prompts are limited on STDIO too', async () => {
    await client.readResource({ uri: 'mcp://docs/readme' });
    await client.readResource({ uri: 'mcp://docs/readme' });
    await expect(client.readResource({ uri: 'mcp://docs/readme' })).rejects.toMatchObject({
      code: -32005,
    });
  });
});

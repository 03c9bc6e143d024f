// The module refuses a try of a call it cannot let run (its slot came back with a failed try, its
// charge was given back). An interceptor of the app that retries without end (`retry()` on the
// class) met that refusal at once, synchronously, and tried again: the loop held the event loop,
// and the whole server stopped answering anyone. A refusal now comes on a later turn of the event
// loop: such a retry spins, as it would on a handler that always fails, but the server answers.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { transpileForNode } from '../fixtures/transpile.js';

let child: ChildProcess | undefined;
const clients: Client[] = [];
afterEach(async () => {
  child?.kill('SIGKILL');
  child = undefined;
  await Promise.all(clients.splice(0).map((client) => client.close().catch(() => undefined)));
});

async function connect(url: URL): Promise<Client> {
  const client = new Client({ name: 'retry-forever', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(url));
  clients.push(client);
  return client;
}

describe('a class-level retry() without end around a refused try', () => {
  test('the server still answers other calls', async () => {
    const out = transpileForNode('retry-forever');
    const server = spawn(
      process.execPath,
      [join(out, 'test', 'fixtures', 'retry-forever-server.js')],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    child = server;
    const url = await new Promise<URL>((resolve, reject) => {
      server.stdout.once('data', (chunk: Buffer) => resolve(new URL(String(chunk).trim())));
      server.once('exit', (code) => reject(new Error(`server exited (${code})`)));
    });
    const first = await connect(url);
    first.callTool({ name: 'flaky', arguments: {} }).catch(() => undefined); // retried forever
    await new Promise((resolve) => setTimeout(resolve, 300));
    const second = await Promise.race([
      connect(url).then((client) => client.callTool({ name: 'ping', arguments: {} })),
      new Promise((resolve) => setTimeout(() => resolve('no answer within 5 s'), 5_000)),
    ]);
    expect(second).toMatchObject({ content: [{ type: 'text', text: 'pong' }] });
  }, 60_000);
});

// ConcurrencyLimit end to end: the official MCP SDK client against a real MCP-Nest app over
// Streamable HTTP. A tool with maxConcurrent 2 whose calls the test ends one by one.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { INestApplication } from '@nestjs/common';
import { RedisStore } from '../../src/index.js';
import {
  cachedAnswers,
  cancelled,
  createConcurrencyApp,
  running,
} from '../fixtures/concurrency-app.js';
import { REDIS_URL, redisDescribe } from '../redis/redis-available.js';

const describeRedis = await redisDescribe('ConcurrencyLimit over MCP-Nest on Redis');

interface Denial {
  code: number;
  data: { retryAfter: number; limit?: string };
}

const clients: Client[] = [];

async function connect(url: URL, user: string): Promise<Client> {
  const client = new Client({ name: 'e2e', version: '1.0.0' });
  const headers = { 'x-user': user };
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  clients.push(client);
  return client;
}

/** How a call ended: its result, or the error it rejected with. */
function settle(call: Promise<unknown>): Promise<{ result?: unknown; error?: unknown }> {
  return call.then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
}

/** Waits (polling) until `condition` holds; fails after a few seconds. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const textOf = (result: unknown) =>
  (result as { content: { text: string }[] }).content.map((part) => part.text).join('');

function expectSlotDenial(outcome: { result?: unknown; error?: unknown }): void {
  const denial = outcome.error as Denial | undefined;
  expect(denial?.code).toBe(-32005);
  expect(denial?.data.limit).toBe('ConcurrencyLimit(2 in flight, lease 60s)');
  // The soonest lease expiry: up to the default lease of 60 s (a release frees a slot sooner).
  expect(denial?.data.retryAfter).toBeGreaterThanOrEqual(59);
  expect(denial?.data.retryAfter).toBeLessThanOrEqual(60);
}

describe('ConcurrencyLimit over MCP-Nest (Streamable HTTP)', () => {
  let app: INestApplication;
  let url: URL;

  beforeAll(async () => {
    ({ app, url } = await createConcurrencyApp());
  });

  afterAll(async () => {
    for (const call of running.values()) call.finish();
    await Promise.all(clients.map((client) => client.close()));
    await app?.close();
  });

  const hold = (client: Client, id: string, options: { signal?: AbortSignal } = {}) =>
    settle(client.callTool({ name: 'hold', arguments: { id } }, options));

  test('5 simultaneous calls of one user: 2 run, 3 get -32005; finished calls free their slots', async () => {
    const client = await connect(url, 'alice');
    const ids = ['a1', 'a2', 'a3', 'a4', 'a5'];
    const calls = new Map(ids.map((id) => [id, hold(client, id)]));
    await until(() => running.size === 2, 'two calls running');
    const runningIds = [...running.keys()];
    const deniedIds = ids.filter((id) => !runningIds.includes(id));
    expect(deniedIds).toHaveLength(3);
    for (const id of deniedIds) expectSlotDenial(await calls.get(id)!);

    // Another user has slots of their own.
    const bob = await connect(url, 'bob');
    const bobCall = hold(bob, 'b1');
    await until(() => running.has('b1'), 'bob running');

    for (const id of runningIds) running.get(id)!.finish();
    for (const id of runningIds) expect(textOf((await calls.get(id)!).result)).toContain(id);
    running.get('b1')!.finish();
    await bobCall;

    // Both slots are free again: two more run at once.
    const again = [hold(client, 'a6'), hold(client, 'a7')];
    await until(() => running.has('a6') && running.has('a7'), 'two more running');
    running.get('a6')!.finish();
    running.get('a7')!.finish();
    for (const outcome of await Promise.all(again)) expect(outcome.error).toBeUndefined();
  });

  test('a handler that throws frees its slot', async () => {
    const client = await connect(url, 'carol');
    const first = hold(client, 'c1');
    const second = hold(client, 'c2');
    await until(() => running.has('c1') && running.has('c2'), 'two calls running');
    expectSlotDenial(await hold(client, 'c3'));

    running.get('c1')!.fail();
    const failed = await first;
    // MCP-Nest answers a thrown error as a tool error result.
    expect(
      (failed.result as { isError?: boolean } | undefined)?.isError ?? failed.error,
    ).toBeTruthy();

    const third = hold(client, 'c4');
    await until(() => running.has('c4'), 'a call in the freed slot');
    running.get('c2')!.finish();
    running.get('c4')!.finish();
    expect((await second).error).toBeUndefined();
    expect((await third).error).toBeUndefined();
  });

  test("a call answered by the method's own interceptor without running the handler frees its slot", async () => {
    const client = await connect(url, 'erin');
    cachedAnswers.add('e1');
    cachedAnswers.add('e2');
    // maxConcurrent 1, one call after the other: each must find the slot free.
    for (const id of ['e1', 'e2', 'e3']) {
      const outcome = await settle(client.callTool({ name: 'cached', arguments: { id } }));
      expect(outcome.error).toBeUndefined();
      expect(textOf(outcome.result)).toContain(id);
    }
  });

  test('a cancelled request frees its slot once its handler stops', async () => {
    const client = await connect(url, 'dave');
    const abort = new AbortController();
    const cancelledCall = hold(client, 'd1', { signal: abort.signal });
    const other = hold(client, 'd2');
    await until(() => running.has('d1') && running.has('d2'), 'two calls running');
    expectSlotDenial(await hold(client, 'd3'));

    // The client sends notifications/cancelled; the handler's signal aborts and it stops.
    abort.abort('changed my mind');
    expect((await cancelledCall).error).toBeDefined();
    await until(() => cancelled.has('d1') && !running.has('d1'), 'the server to stop d1');

    const next = hold(client, 'd4');
    await until(() => running.has('d4'), 'a call in the freed slot');
    running.get('d2')!.finish();
    running.get('d4')!.finish();
    expect((await other).error).toBeUndefined();
    expect((await next).error).toBeUndefined();
  });

  test('a cancelled call whose handler keeps running keeps its slot until it ends', async () => {
    const client = await connect(url, 'erin');
    const abort = new AbortController();
    const call = (id: string, signal?: AbortSignal) =>
      settle(
        client.callTool(
          { name: 'hold', arguments: { id, ignoresCancel: true } },
          signal === undefined ? {} : { signal },
        ),
      );
    const ignoring = call('e1', abort.signal);
    const other = call('e2');
    await until(() => running.has('e1') && running.has('e2'), 'two calls running');
    abort.abort('changed my mind');
    await ignoring;
    await until(() => cancelled.has('e1'), 'the server to see the cancellation');
    // e1 still runs: cancelling and calling again must not run more than 2 at once.
    expectSlotDenial(await call('e3'));

    running.get('e1')!.finish();
    await until(() => !running.has('e1'), 'e1 to end');
    const next = call('e4');
    await until(() => running.has('e4'), 'a call in the freed slot');
    running.get('e2')!.finish();
    running.get('e4')!.finish();
    expect((await other).error).toBeUndefined();
    expect((await next).error).toBeUndefined();
  });
});

describeRedis('ConcurrencyLimit over MCP-Nest on Redis (default outage insurance)', () => {
  let app: INestApplication;
  let url: URL;
  let store: RedisStore;

  beforeAll(async () => {
    store = RedisStore.fromUrl(REDIS_URL);
    ({ app, url } = await createConcurrencyApp({
      store,
      prefix: `e2e-conc:${process.pid}:${Date.now()}:`,
    }));
  });

  afterAll(async () => {
    for (const call of running.values()) call.finish();
    await Promise.all(clients.map((client) => client.close()));
    await app?.close();
    await store?.close();
  });

  test('2 run, the others are denied; each finished call frees its slot, again and again', async () => {
    const client = await connect(url, 'redis-user');
    for (let round = 0; round < 3; round++) {
      const ids = [`r${round}a`, `r${round}b`];
      const calls = ids.map((id) => settle(client.callTool({ name: 'hold', arguments: { id } })));
      await until(() => ids.every((id) => running.has(id)), 'two calls running');
      expectSlotDenial(await settle(client.callTool({ name: 'hold', arguments: { id: 'x' } })));
      for (const id of ids) running.get(id)!.finish();
      for (const outcome of await Promise.all(calls)) expect(outcome.error).toBeUndefined();
    }
  });
});

// Issue 16 §3-4 end to end: MCP-Nest 2.0.5 (MCP SDK 2.4) and the SDK's v2 client pinned to the
// 2026-07-28 protocol. Multi round-trip calls are charged once (replays, forgeries and foreign
// states are charged), tasks and server/discover are not counted, errorCode, toolDenial, refundWhen.
import { afterEach, describe, expect, test } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/client';
import 'reflect-metadata';
import { Controller, Module, type INestApplication } from '@nestjs/common';
import { serveMcpNest } from '../fixtures/mcp-nest-server.js';
import { anyResult, client2026 } from '../fixtures/mcp-2026-client.js';
import {
  McpController,
  McpHttpControllerFor,
  StreamableHttpTransport,
  Tool,
} from '@rekog/mcp-nest';
import { z } from 'zod';
import {
  FixedWindowRateLimit,
  McpRateLimitModule,
  MemoryStore,
  RateLimit,
  RateLimitOptions,
  type RateLimitStore,
} from '../../src/index.js';
import {
  createMcp2026App,
  rendering,
  runs,
  type Mcp2026AppOptions,
} from '../fixtures/mcp-2026-app.js';

const apps: INestApplication[] = [];
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(apps.splice(0).map((app) => app.close()));
  runs.clear();
});

/** Callers are told apart by an `x-user` header, so one test can have several subjects. */
const byUserHeader: Mcp2026AppOptions['resolveSubject'] = (call) => {
  const user = (call.request as { headers?: Record<string, unknown> } | undefined)?.headers?.[
    'x-user'
  ];
  return typeof user === 'string' ? `user:${user}` : undefined;
};

async function serve(options: Mcp2026AppOptions = {}): Promise<URL> {
  const { app, url } = await createMcp2026App({ resolveSubject: byUserHeader, ...options });
  apps.push(app);
  return url;
}

async function connect(url: URL, user: string, autoFulfill = true): Promise<Client> {
  const { client, connect: open } = client2026('e2e-2026', autoFulfill);
  client.setRequestHandler('elicitation/create', () =>
    Promise.resolve({ action: 'accept' as const, content: { ok: true } }),
  );
  clients.push(client);
  return open(url, { 'x-user': user });
}

/** One wire round of `confirm`, by hand: its result, or the JSON-RPC error code. */
function confirmRound(
  client: Client,
  retry?: { requestState: string },
): Promise<{ resultType?: string; requestState?: string; content?: unknown } | number> {
  const params = {
    name: 'confirm',
    arguments: {},
    ...(retry === undefined
      ? {}
      : {
          requestState: retry.requestState,
          inputResponses: { ok: { action: 'accept', content: { ok: true } } },
        }),
  };
  return client
    .request({ method: 'tools/call', params } as never, anyResult, { allowInputRequired: true })
    .then(
      (result) => result as { resultType?: string; requestState?: string },
      (error: { code?: number }) => error.code ?? -1,
    );
}

const codeOf = (call: Promise<unknown>) =>
  call.then(
    () => 'ok',
    (error: { code?: number }) => error.code ?? 'error',
  );

describe('multi round-trip requests (input_required + requestState) are charged once', () => {
  test('two logical calls of two rounds each fit a limit of 2; the third is denied', async () => {
    const client = await connect(await serve(), 'alice');
    for (let call = 0; call < 2; call++) {
      const result = await client.callTool({ name: 'confirm', arguments: {} });
      expect(JSON.stringify(result.content)).toContain('confirmed');
    }
    expect(await codeOf(client.callTool({ name: 'confirm', arguments: {} }))).toBe(-32005);
    expect(runs.get('confirm')).toBe(2);
  });

  test('a resources/read and a prompts/get of two rounds are charged once too', async () => {
    const client = await connect(await serve(), 'ursula');
    for (let call = 0; call < 2; call++) {
      const read = await client.readResource({ uri: 'mcp://docs/secret' });
      expect(JSON.stringify(read.contents)).toContain('the secret');
      const prompt = await client.getPrompt({ name: 'briefing' });
      expect(JSON.stringify(prompt.messages)).toContain('the briefing');
    }
    expect(await codeOf(client.readResource({ uri: 'mcp://docs/secret' }))).toBe(-32005);
    expect(await codeOf(client.getPrompt({ name: 'briefing' }))).toBe(-32005);
    expect([runs.get('secret'), runs.get('briefing')]).toEqual([2, 2]);
  });

  test('the retry of a call with a ConcurrencyLimit takes a slot; denied, its state stays good', async () => {
    const url = await serve();
    const client = await connect(url, 'rhea', false);
    const round = (retry?: { requestState: string }) =>
      client
        .request(
          {
            method: 'tools/call',
            params: {
              name: 'render',
              arguments: {},
              ...(retry && {
                requestState: retry.requestState,
                inputResponses: { ok: { action: 'accept', content: { ok: true } } },
              }),
            },
          } as never,
          anyResult,
          { allowInputRequired: true },
        )
        .then(
          (result) => result as { requestState?: string; content?: unknown },
          (error: { code?: number }) => error.code ?? -1,
        );
    const first = (await round()) as { requestState: string };
    const second = (await round()) as { requestState: string };
    const running = round(first); // the confirmed call runs, holding the only slot
    const deadline = Date.now() + 5000;
    while (rendering.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(rendering).toHaveLength(1);
    expect(await round(second)).toBe(-32005); // a second render at once: denied
    expect(await round()).toBe(-32005); // a third call: out of slots and of rate (2 a minute)
    rendering.shift()!();
    expect(await running).toMatchObject({ content: [{ type: 'text', text: '"rendered"' }] });
    // The slot is free, and the denied retry's state is still good: not charged to the rate again.
    const retried = round(second);
    while (rendering.length === 0 && Date.now() < deadline + 5000) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    rendering.shift()!();
    expect(await retried).toMatchObject({ content: [{ type: 'text', text: '"rendered"' }] });
    expect(runs.get('render')).toBe(2);
  });

  test('a replayed state is charged like a new call (each state is good once)', async () => {
    const client = await connect(await serve(), 'bob', false);
    const first = await confirmRound(client); // charged: 1 of 2
    expect(first).toMatchObject({ resultType: 'input_required' });
    const state = (first as { requestState: string }).requestState;
    expect(await confirmRound(client, { requestState: state })).toMatchObject({
      content: [{ type: 'text', text: '"confirmed"' }],
    }); // the continuation: not charged
    expect(await confirmRound(client, { requestState: state })).toMatchObject({
      content: [{ type: 'text', text: '"confirmed"' }],
    }); // the replay: charged, 2 of 2
    expect(await confirmRound(client, { requestState: state })).toBe(-32005);
  });

  test('a fabricated state, or one issued to another subject, is charged', async () => {
    const url = await serve();
    const alice = await connect(url, 'alice', false);
    const mallory = await connect(url, 'mallory', false);
    const issued = (await confirmRound(alice)) as { requestState: string };
    // Mallory presents Alice's state and a made-up one: both charged to Mallory (2 of 2).
    expect(await confirmRound(mallory, { requestState: issued.requestState })).toMatchObject({
      content: [{ type: 'text', text: '"confirmed"' }],
    });
    expect(await confirmRound(mallory, { requestState: 'state-forged' })).toMatchObject({
      content: [{ type: 'text', text: '"confirmed"' }],
    });
    expect(await confirmRound(mallory, { requestState: 'state-forged-2' })).toBe(-32005);
    // Alice's own state is still hers, unused: her continuation is free (she has used 1 of 2).
    expect(await confirmRound(alice, { requestState: issued.requestState })).toMatchObject({
      content: [{ type: 'text', text: '"confirmed"' }],
    });
    expect(await confirmRound(alice)).toMatchObject({ resultType: 'input_required' });
    expect(await confirmRound(alice)).toBe(-32005);
  });
});

describe('the message-level limit and the protocol housekeeping', () => {
  const housekeeping = async (client: Client) => {
    const answers: (string | number)[] = [];
    for (const method of ['server/discover', 'tasks/get', 'tasks/update', 'tasks/cancel']) {
      for (let call = 0; call < 2; call++) {
        answers.push(
          await client
            .request(
              { method, params: method === 'server/discover' ? {} : { taskId: 't1' } } as never,
              anyResult,
            )
            .then(
              () => 'ok',
              (error: { code?: number; message?: string }) =>
                /-32005/.test(error.message ?? '') ? -32005 : (error.code ?? 'error'),
            ),
        );
      }
    }
    return answers;
  };

  test('server/discover and tasks/* are not counted by default', async () => {
    const client = await connect(await serve({ messagesPerMinute: 2 }), 'carol');
    const answers = await housekeeping(client);
    expect(answers).not.toContain(-32005);
    // The two counted messages are still there for real work.
    expect(await codeOf(client.callTool({ name: 'echo', arguments: {} }))).toBe('ok');
    expect(await codeOf(client.callTool({ name: 'lookup', arguments: { query: 'q' } }))).toBe('ok');
    expect(await codeOf(client.callTool({ name: 'lookup', arguments: { query: 'q' } }))).not.toBe(
      'ok',
    );
  });

  test('countedMethods counts a housekeeping method anyway (a poll limit)', async () => {
    const url = await serve({ messagesPerMinute: 2, countedMethods: ['tasks/get'] });
    const client = await connect(url, 'dave');
    expect(await housekeeping(client)).not.toContain(-32005);
    // The two tasks/get took the two messages: real work is now refused by the message limit.
    expect(await codeOf(client.callTool({ name: 'echo', arguments: {} }))).toBe(-32005);
    expect(runs.get('echo')).toBeUndefined();
  });
});

describe('errorCode', () => {
  test('-32023 (SEP-3304) is accepted and used for denials', async () => {
    const client = await connect(await serve({ errorCode: -32023 }), 'erin');
    expect(await codeOf(client.callTool({ name: 'echo', arguments: {} }))).toBe('ok');
    expect(await codeOf(client.callTool({ name: 'echo', arguments: {} }))).toBe(-32023);
  });

  test.each([-32050, -32020, -32601, 1.5])('%s is refused at bootstrap', async (errorCode) => {
    await expect(createMcp2026App({ errorCode })).rejects.toThrow(/"errorCode"/);
  });
});

describe('toolDenial', () => {
  test("'result' on a handler: the model reads which tool and when to retry", async () => {
    const client = await connect(await serve(), 'frank');
    for (let call = 0; call < 2; call++) {
      const result = await client.callTool({ name: 'lookup', arguments: { query: 'q' } });
      expect(result.isError).toBeFalsy();
    }
    const denied = await client.callTool({ name: 'lookup', arguments: { query: 'q' } });
    expect(denied.isError).toBe(true);
    const text = (denied.content as { text: string }[])[0].text;
    expect(text).toMatch(
      /^Rate limit exceeded: The tool "lookup" was not run \(FixedWindowRateLimit\(2 per 10s\)\)\. Retry after \d+ seconds?\.$/,
    );
    expect(denied.structuredContent).toEqual({
      error: 'rate_limited',
      retryAfter: expect.any(Number),
      limit: 'FixedWindowRateLimit(2 per 10s)',
      quota: 2,
      windowSeconds: 10,
    });
    expect(runs.get('lookup')).toBe(2);
    // echo keeps the JSON-RPC error.
    expect(await codeOf(client.callTool({ name: 'echo', arguments: {} }))).toBe('ok');
    expect(await codeOf(client.callTool({ name: 'echo', arguments: {} }))).toBe(-32005);
  });

  test("'result' module-wide applies to every tool", async () => {
    const client = await connect(await serve({ toolDenial: 'result' }), 'grace');
    await client.callTool({ name: 'echo', arguments: {} });
    const denied = await client.callTool({ name: 'echo', arguments: {} });
    expect(denied.isError).toBe(true);
    expect(denied.structuredContent).toMatchObject({ error: 'rate_limited', quota: 1 });
    expect(runs.get('echo')).toBe(1);
  });
});

describe('refundWhen', () => {
  test('failed calls give their quota back; successful ones keep it', async () => {
    const client = await connect(await serve(), 'heidi');
    for (let call = 0; call < 3; call++) {
      const failed = await client.callTool({ name: 'flaky', arguments: { fail: true } });
      expect(failed.isError).toBe(true);
    }
    for (let call = 0; call < 2; call++) {
      expect(await codeOf(client.callTool({ name: 'flaky', arguments: { fail: false } }))).toBe(
        'ok',
      );
    }
    expect(await codeOf(client.callTool({ name: 'flaky', arguments: { fail: false } }))).toBe(
      -32005,
    );
    expect(runs.get('flaky')).toBe(5);
  });
});

// Built-in limits give quota back through MemoryStore.refund, which the core branch adds: this runs
// once that is merged (until then the bootstrap would refuse refundWhen on a store without it).
const withStoreRefunds =
  typeof (MemoryStore.prototype as Partial<RateLimitStore>).refund === 'function'
    ? describe
    : describe.skip;

withStoreRefunds('refundWhen on built-in limits (MemoryStore.refund)', () => {
  @McpController()
  class FlakyBuiltIn {
    @Tool({
      name: 'flaky_builtin',
      description: 'Fails when asked; 2 per minute, failures refunded',
      parameters: z.object({ fail: z.boolean() }),
    })
    @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
    @RateLimitOptions({ refundWhen: (outcome) => outcome.failed })
    flaky({ fail }: { fail: boolean }) {
      if (fail) throw new Error('upstream failed');
      return 'fine';
    }
  }

  test('failed calls give their quota back; successful ones keep it', async () => {
    const transport = new StreamableHttpTransport();
    @Controller('mcp')
    class McpEndpoint extends McpHttpControllerFor(transport) {}
    @Module({
      imports: [McpRateLimitModule.forRoot()],
      controllers: [McpEndpoint, FlakyBuiltIn],
    })
    class AppModule {}
    const { app, url } = await serveMcpNest(AppModule, transport, 'refunds');
    apps.push(app);
    const client = await connect(url, 'ivan');
    for (let call = 0; call < 3; call++) {
      const failed = await client.callTool({ name: 'flaky_builtin', arguments: { fail: true } });
      expect(failed.isError).toBe(true);
    }
    for (let call = 0; call < 2; call++) {
      expect(
        await codeOf(client.callTool({ name: 'flaky_builtin', arguments: { fail: false } })),
      ).toBe('ok');
    }
    expect(
      await codeOf(client.callTool({ name: 'flaky_builtin', arguments: { fail: false } })),
    ).toBe(-32005);
  });
});

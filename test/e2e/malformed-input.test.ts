// Bad input over real HTTP: 10,000 generated malformed bodies and headers (wrong types, huge ids,
// arrays, missing fields, invalid JSON, unicode, lying Mcp-Method headers) sent to a JSON-RPC
// endpoint with a message-level limit. No 5xx, no crash, and a counted request (a tools/call with an
// id, in any spelling the lenient endpoint accepts) never gets past the limit.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import fc from 'fast-check';
import { SlidingWindowRateLimit } from '../../src/index.js';
import { createJsonRpcApp, type Executions } from '../fixtures/json-rpc-app.js';
import { createMcpApp } from '../fixtures/mcp-app.js';

const LIMIT = 5;
const SUBJECTS = 50;
const CASES = 10_000;

const methodVariant = fc.oneof(
  fc.constantFrom(
    'tools/call',
    'TOOLS/CALL',
    ' tools/call',
    'tools/call ',
    'Tools/Call',
    '\ttools/call\n',
    'tools/call\u0000',
    'initialize',
    'Initialize',
    ' initialize',
    'ping',
    'PING',
    'ping ',
    'notifications/initialized',
    'resources/read',
    'prompts/get',
  ),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
);

const idVariant = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc.string({ minLength: 4090, maxLength: 4200 }),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
  fc.boolean(),
);

const message = fc.record(
  {
    jsonrpc: fc.oneof(fc.constant('2.0'), fc.constant('1.0'), fc.anything({ maxDepth: 1 })),
    id: idVariant,
    method: fc.oneof({ weight: 5, arbitrary: methodVariant }, fc.anything({ maxDepth: 1 })),
    params: fc.oneof(
      fc.record({ name: fc.string({ maxLength: 10 }), arguments: fc.anything({ maxDepth: 2 }) }),
      fc.anything({ maxDepth: 2 }),
    ),
    result: fc.anything({ maxDepth: 1 }),
    error: fc.anything({ maxDepth: 1 }),
    extra: fc.anything({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
);

/** JSON texts a JSON.stringify could not produce: huge numbers, duplicate keys. */
const rawJson = fc
  .tuple(
    methodVariant,
    fc.constantFrom(
      '1e400',
      '-1e400',
      '123456789012345678901234567890',
      '0.0000000000000000000001',
      '-0',
    ),
  )
  .map(
    ([method, id]) =>
      `{"jsonrpc":"2.0","id":${id},"method":${JSON.stringify(method)},"method":"tools/call"}`,
  );

/** A tools/call request the lenient endpoint executes, in odd spellings and with odd ids. */
const toolCall = fc.record({
  jsonrpc: fc.constantFrom('2.0', '1.0', 2),
  id: idVariant,
  method: fc.constantFrom(
    'tools/call',
    'TOOLS/CALL',
    ' tools/call',
    'Tools/Call ',
    '\ttools/call\n',
  ),
  params: fc.anything({ maxDepth: 1 }),
});

const body = fc.oneof(
  { weight: 4, arbitrary: toolCall.map((value) => JSON.stringify(value)) },
  { weight: 6, arbitrary: message.map((value) => JSON.stringify(value)) },
  {
    weight: 2,
    arbitrary: fc.array(message, { maxLength: 4 }).map((value) => JSON.stringify(value)),
  },
  { weight: 1, arbitrary: rawJson },
  { weight: 1, arbitrary: fc.json({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constant('') },
);

/** Header values a client can put on the wire (fetch refuses control characters). */
const headerText = (arbitrary: fc.Arbitrary<string>) =>
  arbitrary.map((text) => text.replace(/[^\x20-\x7e]/g, ''));

const headers = fc.record(
  {
    'content-type': fc.oneof(
      { weight: 8, arbitrary: fc.constant('application/json') },
      fc.constantFrom(
        'application/json; charset=utf-8',
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/JSON',
      ),
      headerText(fc.string({ maxLength: 20 })),
    ),
    authorization: fc.oneof(
      { weight: 8, arbitrary: fc.nat(SUBJECTS - 1).map((n) => `Bearer user:s${n}`) },
      headerText(fc.string({ maxLength: 30 })),
    ),
    'mcp-method': headerText(methodVariant),
    'mcp-name': headerText(fc.string({ maxLength: 30 })),
  },
  { requiredKeys: ['content-type', 'authorization'] },
);

interface Sent {
  readonly body: string;
  readonly headers: Record<string, string>;
}

async function sendAll(url: string, cases: readonly Sent[], concurrency = 16) {
  const statuses = new Map<number, number>();
  const echoFailures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const sent = cases[next++];
      const response = await fetch(url, { method: 'POST', headers: sent.headers, body: sent.body });
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      const text = await response.text();
      if (response.status === 200 && text.includes('-32005')) {
        const answer = JSON.parse(text) as { id: unknown };
        // Only bodies Nest parsed as JSON have an id the endpoint could read.
        const parsed = sent.headers['content-type'] === 'application/json';
        const expected = parsed ? expectedEcho(sent.body) : undefined;
        if (expected !== undefined && JSON.stringify(answer.id) !== JSON.stringify(expected)) {
          echoFailures.push(`${sent.body.slice(0, 80)} -> ${JSON.stringify(answer.id)}`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { statuses, echoFailures };
}

/** The id a denial must echo for a single JSON object body; undefined when not checkable. */
function expectedEcho(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const id = (value as { id?: unknown }).id;
  if (typeof id === 'string') return id.length <= 4096 ? id : null;
  if (typeof id === 'number' && Number.isFinite(id)) return id;
  return null;
}

/** A lower bound of the tool calls each user sent that the endpoint would execute unlimited. */
function executableCallsBySubject(cases: readonly Sent[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const sent of cases) {
    const user = /^Bearer user:(s\d+)$/.exec(sent.headers.authorization ?? '')?.[1];
    if (user === undefined || sent.headers['content-type'] !== 'application/json') continue;
    let value: unknown;
    try {
      value = JSON.parse(sent.body);
    } catch {
      continue;
    }
    const messages = Array.isArray(value) ? value : [value];
    const calls = messages.filter(
      (message) =>
        message !== null &&
        typeof message === 'object' &&
        !Array.isArray(message) &&
        'id' in message &&
        typeof message.method === 'string' &&
        message.method.trim().toLowerCase() === 'tools/call',
    ).length;
    counts.set(user, (counts.get(user) ?? 0) + calls);
  }
  return counts;
}

describe('malformed input', () => {
  let app: INestApplication;
  let url: string;
  let executions: Executions;

  beforeAll(async () => {
    // A sliding window over an hour: no window boundary can fall inside the test run.
    ({ app, url, executions } = await createJsonRpcApp({
      messagesPerMinute: LIMIT,
      messageLimits: [new SlidingWindowRateLimit({ maxCalls: LIMIT, perSeconds: 3600 })],
    }));
  });

  afterAll(async () => {
    await app?.close();
  });

  test(`${CASES} generated malformed requests: no 5xx, no crash, no bypass`, async () => {
    const cases = fc.sample(fc.record({ body, headers }), { numRuns: CASES, seed: 4242 });
    expect(cases).toHaveLength(CASES);
    const { statuses, echoFailures } = await sendAll(url, cases);

    const serverErrors = [...statuses].filter(([status]) => status >= 500);
    expect(serverErrors).toEqual([]);
    expect(echoFailures).toEqual([]);
    // Every request got an answer, and the endpoint still works.
    expect([...statuses.values()].reduce((sum, count) => sum + count, 0)).toBe(CASES);
    const probe = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer user:probe' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call' }),
    });
    expect(probe.status).toBe(200);

    // No subject ever had more tool calls executed than the limit...
    const over = [...executions.bySubject].filter(([, count]) => count > LIMIT);
    expect(over).toEqual([]);
    // ...though most subjects sent far more tool calls than that: the limit really held them back.
    const sentCalls = executableCallsBySubject(cases);
    const heldBack = [...sentCalls].filter(([, count]) => count > 2 * LIMIT);
    expect(heldBack.length).toBeGreaterThan(SUBJECTS / 2);
    expect(statuses.get(200)).toBeGreaterThan(CASES / 2);
  }, 120_000);
});

describe('malformed input at the MCP-Nest endpoint', () => {
  test('2,000 generated malformed requests: no 5xx, the server keeps serving', async () => {
    const server = await createMcpApp({ transport: 'http', messageLimit: LIMIT });
    try {
      const cases = fc
        .sample(fc.record({ body, headers }), { numRuns: 2000, seed: 7 })
        .map((sent) => ({
          ...sent,
          headers: { ...sent.headers, accept: 'application/json, text/event-stream' },
        }));
      const { statuses } = await sendAll(server.url!.href, cases, 8);
      const serverErrors = [...statuses].filter(([status]) => status >= 500);
      expect(serverErrors).toEqual([]);
      const probe = await fetch(server.url!, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: 'Bearer user:probe',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: {
            protocolVersion: '2025-06-18',
            capabilities: {},
            clientInfo: { name: 'probe', version: '1' },
          },
        }),
      });
      expect(probe.status).toBe(200);
    } finally {
      await server.app.close();
    }
  }, 120_000);
});

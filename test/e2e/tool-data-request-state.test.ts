// What an MCP-Nest tool's return value answers: MCP-Nest sends a value with a `content` array as the
// tool's result, and any other value as JSON text (`{ content: [{ type: 'text', text }] }`). Found
// by attack review 7: the interceptor read the raw return value as the protocol's answer, so a tool
// returning data the client controls (a stored document, JSON fetched from a URL):
// - shaped `{ resultType: "input_required", requestState }`, was taken for a state the server
//   issued, and a retry carrying it was a free continuation: 10 runs per charge of a tool with no
//   multi round-trip at all (the client got JSON text, not input_required);
// - shaped `{ isError: true }`, was shown to `refundWhen` as an `isError` result and refunded: a
//   tool that answered normally ran without limit.
import 'reflect-metadata';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/client';
import type { INestApplication } from '@nestjs/common';
import { McpController, Tool } from '@rekog/mcp-nest';
import { z } from 'zod';
import { FixedWindowRateLimit, RateLimit, RateLimitOptions } from '../../src/index.js';
import { toolRound } from '../fixtures/mcp-2026-client.js';
import { serveToolsFor2026 } from '../fixtures/mcp-nest-server.js';

const documents = new Map<string, unknown>();
const reads = { get: 0, check: 0 };

@McpController()
class DocumentTools {
  @Tool({
    name: 'doc.save',
    description: 'Stores a JSON document (not limited)',
    parameters: z.object({ key: z.string(), json: z.string() }),
  })
  save({ key, json }: { key: string; json: string }) {
    documents.set(key, JSON.parse(json));
    return 'saved';
  }

  // Declared multiRoundTrip (it might also ask for input): its answers are read for a state, and
  // data it returns as JSON text must still not be taken for one.
  @Tool({
    name: 'doc.get',
    description: 'Returns a stored document: 2 per minute',
    parameters: z.object({ key: z.string() }),
  })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  @RateLimitOptions({ multiRoundTrip: true })
  get({ key }: { key: string }) {
    reads.get++;
    return documents.get(key) ?? {};
  }

  @Tool({
    name: 'doc.check',
    description: 'Returns a stored document: 2 per minute, error results not charged',
    parameters: z.object({ key: z.string() }),
  })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  @RateLimitOptions({
    refundWhen: (outcome) => (outcome.result as { isError?: unknown }).isError === true,
  })
  check({ key }: { key: string }) {
    reads.check++;
    return documents.get(key) ?? {};
  }
}

let app: INestApplication;
let client: Client;

beforeAll(async () => {
  ({ app, client } = await serveToolsFor2026(DocumentTools, 'documents'));
});

afterAll(async () => {
  await client?.close();
  await app?.close();
});

function call(name: string, requestState?: string): Promise<'ok' | 'denied'> {
  const round = toolRound(client, { name, arguments: { key: name }, requestState });
  return round.then((answer) => (answer === 'denied' ? 'denied' : 'ok'));
}

function save(key: string, document: unknown): Promise<unknown> {
  return client.callTool({ name: 'doc.save', arguments: { key, json: JSON.stringify(document) } });
}

test('a multi round-trip tool limited to 2 a minute, returning client data as JSON text, runs at most twice', async () => {
  await save('doc.get', { resultType: 'input_required', requestState: 'mine' });
  await call('doc.get'); // charged: the tool answers the stored document, as JSON text
  for (let i = 0; i < 30; i++) if ((await call('doc.get', 'mine')) === 'denied') break;
  expect(reads.get).toBe(2);
});

test('refundWhen sees the result MCP-Nest answers, not the data the tool returned', async () => {
  await save('doc.check', { isError: true });
  for (let i = 0; i < 10; i++) if ((await call('doc.check')) === 'denied') break;
  expect(reads.check).toBe(2);
});

// Found by attack review 8, on review 7's fix of "tool data taken for an issued requestState"
// (a state needed a `content` array beside it). A tool that returns data the client controls (a
// stored document) still handed the client states of its choosing as soon as that data carried a
// `content` array: MCP-Nest then sends the value itself as the tool's result, so
// `{ content: [], resultType: 'input_required', requestState: 'mine' }` was recorded as a state
// this server issued, and each retry carrying 'mine' was a free continuation (10 runs per charge)
// of a tool with no multi round-trip at all. No shape tells data from a real answer: charge-once
// applies only to handlers that declare `@RateLimitOptions({ multiRoundTrip: true })`.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/client';
import type { INestApplication } from '@nestjs/common';
import { McpController, Tool } from '@rekog/mcp-nest';
import { z } from 'zod';
import { FixedWindowRateLimit, RateLimit } from '../../src/index.js';
import { toolRound } from '../fixtures/mcp-2026-client.js';
import { serveToolsFor2026 } from '../fixtures/mcp-nest-server.js';

const documents = new Map<string, unknown>();
let reads = 0;

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

  // Not declared multiRoundTrip; MCP-Nest's usual style (no parameter decorators: it may read its
  // MCP context, which once made it followed for multi round-trip calls).
  @Tool({
    name: 'doc.get',
    description: 'Returns a stored document: 2 an hour',
    parameters: z.object({ key: z.string() }),
  })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 3600 }))
  get({ key }: { key: string }) {
    reads++;
    return documents.get(key) ?? {};
  }
}

let app: INestApplication;
let client: Client;

beforeAll(async () => {
  ({ app, client } = await serveToolsFor2026(DocumentTools, 'undeclared-multi-round-trip'));
});

afterAll(async () => {
  await client?.close();
  await app?.close();
});

function call(requestState?: string): Promise<'ok' | 'denied'> {
  const round = toolRound(client, { name: 'doc.get', arguments: { key: 'd' }, requestState });
  return round.then((answer) => (answer === 'denied' ? 'denied' : 'ok'));
}

describe('a tool not declared multiRoundTrip: every round is charged as a new call', () => {
  test('returning client data shaped as an input_required answer (content array), it runs at most twice under 2 an hour', async () => {
    await client.callTool({
      name: 'doc.save',
      arguments: {
        key: 'd',
        json: JSON.stringify({ content: [], resultType: 'input_required', requestState: 'mine' }),
      },
    });
    const outcomes = [await call()];
    for (let i = 0; i < 30 && outcomes.at(-1) === 'ok'; i++) outcomes.push(await call('mine'));
    expect(outcomes).toEqual(['ok', 'ok', 'denied']);
    expect(reads).toBe(2);
  });
});

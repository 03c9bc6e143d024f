// The retry of a multi round-trip call is the call that was charged only when it sends the same
// arguments. Found by attack review 6: nothing bound the retry to the first round's arguments, so
// with @RateLimitCost(args => args.pages) a first round of 1 page (cost 1) bought a retry of 10
// pages, and a client exported 100 pages under a budget of 10 a minute. Real MCP-Nest app, the
// SDK's client on the 2026-07-28 protocol.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/client';
import { inputRequired } from '@modelcontextprotocol/server';
import type { INestApplication } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { McpController, Tool } from '@rekog/mcp-nest';
import { z } from 'zod';
import {
  FixedWindowRateLimit,
  RateLimit,
  RateLimitCost,
  RateLimitOptions,
} from '../../src/index.js';
import { type RoundAnswer, toolRound } from '../fixtures/mcp-2026-client.js';
import { serveToolsFor2026, inputResponsesOf } from '../fixtures/mcp-nest-server.js';

/** Pages actually exported (the expensive work, done once the user confirmed). */
let exported = 0;

@McpController()
class ExportTools {
  @Tool({
    name: 'export',
    description: 'Exports pages after a confirmation: 10 pages a minute',
    parameters: z.object({ pages: z.number().int().min(1) }),
  })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 10, perSeconds: 60 }))
  @RateLimitCost((args: { pages: number }) => args.pages)
  @RateLimitOptions({ multiRoundTrip: true })
  export(@Payload() args: { pages: number }, @Ctx() ctx: unknown) {
    if (inputResponsesOf(ctx)?.ok === undefined) {
      return {
        ...inputRequired({
          inputRequests: {
            ok: inputRequired.elicit({
              message: `Export ${args.pages} pages?`,
              requestedSchema: z.object({ ok: z.boolean() }),
            }),
          },
          requestState: `state-${randomUUID()}`,
        }),
        content: [],
      };
    }
    exported += args.pages;
    return { content: [{ type: 'text', text: `exported ${args.pages}` }] };
  }
}

let app: INestApplication;
let client: Client;

beforeAll(async () => {
  ({ app, client } = await serveToolsFor2026(ExportTools, 'export-cost'));
});

afterAll(async () => {
  await client?.close();
  await app?.close();
});

/** One wire round of `export`: its result, or 'denied'. */
function round(pages: number, requestState?: string): Promise<RoundAnswer> {
  const inputResponses = { ok: { action: 'accept', content: { ok: true } } };
  const answered = requestState === undefined ? {} : { requestState, inputResponses };
  return toolRound(client, { name: 'export', arguments: { pages }, ...answered });
}

describe('the retry of a multi round-trip call changes its cost-bearing arguments', () => {
  test('round 1 of 1 page, retry of 10 pages: at most 10 pages a minute are exported', async () => {
    for (let call = 0; call < 10; call++) {
      const first = await round(1); // charged 1
      if (first === 'denied' || first.requestState === undefined) break;
      await round(10, first.requestState); // the same logical call: not charged again
    }
    // Observed on main: 100 pages exported for 10 units of a 10-unit budget.
    expect(exported).toBeLessThanOrEqual(10);
  });
});

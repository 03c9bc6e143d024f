// Found by attack review 5: one charged first round of a multi round-trip call bought unlimited
// runs of the handler. Each retry carrying the last requestState was "the same logical call",
// uncharged; a retry WITHOUT the input asked for makes the (stateless) tool run again from the
// start and ask again, with a new requestState, which was recorded as a continuation of the same
// charged call: 21 runs of a tool limited to 2 per minute, for one charge. What must hold: a logical
// call continues for at most 10 rounds (InMemoryContinuations' maxRounds), after which the retry is
// charged as a new call, so the handler runs at most limit x 10 times. Real MCP-Nest app, official
// SDK client on the 2026-07-28 protocol.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/client';
import { type RoundAnswer, toolRound } from '../fixtures/mcp-2026-client.js';
import { inputRequired } from '@modelcontextprotocol/server';
import type { INestApplication } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { McpController, Tool } from '@rekog/mcp-nest';
import { z } from 'zod';
import { FixedWindowRateLimit, RateLimit, RateLimitOptions } from '../../src/index.js';
import { serveToolsFor2026, inputResponsesOf } from '../fixtures/mcp-nest-server.js';

/** Runs of the tool's body: the expensive part it does before asking. */
let runs = 0;

@McpController()
class PlanningTools {
  @Tool({ name: 'plan', description: 'Searches, then asks which option: 2 per hour' })
  // An hour, not a minute: windows are aligned to the clock, and a slow run that crossed a minute
  // boundary got a fresh quota mid-test (40 runs instead of 20 once, under load).
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 3_600 }))
  @RateLimitOptions({ multiRoundTrip: true })
  plan(@Payload() _args: unknown, @Ctx() ctx: unknown) {
    runs++; // the expensive search, done on every round (the tool keeps no state between rounds)
    if (inputResponsesOf(ctx)?.choice === undefined) {
      return {
        ...inputRequired({
          inputRequests: {
            choice: inputRequired.elicit({
              message: 'Which option?',
              requestedSchema: z.object({ option: z.number() }),
            }),
          },
          requestState: `state-${randomUUID()}`,
        }),
        content: [],
      };
    }
    return 'planned';
  }
}

let app: INestApplication;
let client: Client;

beforeAll(async () => {
  ({ app, client } = await serveToolsFor2026(PlanningTools, 'planning'));
});

afterAll(async () => {
  await client?.close();
  await app?.close();
});

/** One wire round of `plan`: its result, or 'denied'. */
function round(requestState?: string): Promise<RoundAnswer> {
  return toolRound(client, { name: 'plan', arguments: {}, requestState });
}

describe('a chain of continuations without the input asked for', () => {
  test('is charged again every 10 rounds: a tool limited to 2 per hour runs at most 20 times', async () => {
    let answer = await round();
    for (let i = 0; i < 40 && answer !== 'denied' && answer.requestState; i++) {
      answer = await round(answer.requestState); // retry, but never answer the question
    }
    // Two logical calls of 10 rounds each, then the third call of the minute is denied.
    expect(answer).toBe('denied');
    expect(runs).toBe(20);
    expect(await round()).toBe('denied');
  });
});

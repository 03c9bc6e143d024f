// Attack review 9: refundWhen is asked about every round of a multi round-trip call, including an
// `input_required` round, which is not the logical call's end. README ("MCP 2026-07-28"): "With
// refundWhen, the logical call's end decides: when its last round ends the way refundWhen says, the
// charge of its first round is given back (once)". A handler that refunds the calls that did
// nothing (here: did not deploy, e.g. the user declined) gets its first round refunded as soon as
// it asks for confirmation, and the confirmed retry is a free continuation: every deploy is free,
// a tool limited to 1 per hour deploys without limit. What must hold: an input_required round is
// not judged by refundWhen; the logical call that deployed stays charged, the next one is denied.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/client';
import { toolRound } from '../fixtures/mcp-2026-client.js';
import { inputRequired } from '@modelcontextprotocol/server';
import type { INestApplication } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { McpController, Tool } from '@rekog/mcp-nest';
import { z } from 'zod';
import { FixedWindowRateLimit, RateLimit, RateLimitOptions } from '../../src/index.js';
import { serveToolsFor2026, inputResponsesOf } from '../fixtures/mcp-nest-server.js';

let deploys = 0;

@McpController()
class DeployTools {
  @Tool({ name: 'deploy', description: 'Asks to confirm, then deploys: 1 per hour' })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 3_600 }))
  // Give back the calls that deployed nothing (declined, or failed).
  @RateLimitOptions({
    multiRoundTrip: true,
    refundWhen: ({ failed, result }) => failed || !JSON.stringify(result).includes('deployed'),
  })
  deploy(@Payload() _args: unknown, @Ctx() ctx: unknown) {
    const confirm = inputResponsesOf(ctx)?.confirm;
    if (confirm === undefined) {
      return {
        ...inputRequired({
          inputRequests: {
            confirm: inputRequired.elicit({
              message: 'Deploy?',
              requestedSchema: z.object({ ok: z.boolean() }),
            }),
          },
          requestState: `state-${randomUUID()}`,
        }),
        content: [],
      };
    }
    deploys++;
    return 'deployed';
  }
}

let app: INestApplication;
let client: Client;

beforeAll(async () => {
  ({ app, client } = await serveToolsFor2026(DeployTools, 'deploy'));
});

afterAll(async () => {
  await client?.close();
  await app?.close();
});

type Answer = { requestState?: string; content?: unknown } | 'denied';

function round(requestState?: string, confirm = false): Promise<Answer> {
  const inputResponses = { confirm: { action: 'accept', content: { ok: true } } };
  return toolRound(client, {
    name: 'deploy',
    arguments: {},
    requestState,
    ...(confirm ? { inputResponses } : {}),
  });
}

/** One logical call: ask, then confirm. */
async function deployOnce(): Promise<Answer> {
  const first = await round();
  if (first === 'denied' || first.requestState === undefined) return first;
  return round(first.requestState, true);
}

describe('refundWhen on the input_required round of a multi round-trip call', () => {
  test('a logical call that deployed stays charged: the next deploy within the hour is denied', async () => {
    const first = await deployOnce();
    expect(first).not.toBe('denied');
    expect(deploys).toBe(1);
    for (let i = 0; i < 4; i++) await deployOnce();
    // 1 per hour: only the first logical call may deploy.
    expect(deploys).toBe(1);
    expect(await round()).toBe('denied');
  });
});

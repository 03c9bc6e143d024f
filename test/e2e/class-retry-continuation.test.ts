// Found by the review of 6e2eae7 (the call judged once, first among the method's interceptors): a
// class-level (or global) retry() that tries a multi round-trip call again after a failed try gets
// the try's input_required answer to its client, but the call had been judged already, on the
// failure: its requestState was never recorded, so the client's retry carrying it was charged as a
// new call. What must hold: a logical call is charged once; a failed try that was not given back
// leaves the call's answer to the try that follows it.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/client';
import { inputRequired } from '@modelcontextprotocol/server';
import {
  Injectable,
  UseInterceptors,
  type CallHandler,
  type INestApplication,
  type NestInterceptor,
} from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { McpController, Tool } from '@rekog/mcp-nest';
import { retry, type Observable } from 'rxjs';
import { z } from 'zod';
import { FixedWindowRateLimit, RateLimit, RateLimitOptions } from '../../src/index.js';
import { type RoundAnswer, toolRound } from '../fixtures/mcp-2026-client.js';
import { serveToolsFor2026, inputResponsesOf } from '../fixtures/mcp-nest-server.js';

@Injectable()
class RetryOnce implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(retry(1));
  }
}

/** Runs of the first round; every odd one fails (a flaky downstream API). */
let asked = 0;
let exported = 0;

@McpController()
@UseInterceptors(new RetryOnce())
class ExportTools {
  @Tool({
    name: 'export',
    description: 'Asks to confirm, then exports: 2 a minute',
    parameters: z.object({}),
  })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  @RateLimitOptions({ multiRoundTrip: true })
  export(@Payload() _args: unknown, @Ctx() ctx: unknown) {
    if (inputResponsesOf(ctx)?.ok === undefined) {
      asked++;
      if (asked % 2 === 1) throw new Error('downstream hiccup');
      return {
        ...inputRequired({
          inputRequests: {
            ok: inputRequired.elicit({
              message: 'Export?',
              requestedSchema: z.object({ ok: z.boolean() }),
            }),
          },
          requestState: `state-${randomUUID()}`,
        }),
        content: [],
      };
    }
    exported++;
    return { content: [{ type: 'text', text: 'exported' }] };
  }
}

let app: INestApplication;
let client: Client;

beforeAll(async () => {
  ({ app, client } = await serveToolsFor2026(ExportTools, 'class-retry-continuation'));
});

afterAll(async () => {
  await client?.close();
  await app?.close();
});

function round(requestState?: string): Promise<RoundAnswer> {
  const answered =
    requestState === undefined
      ? {}
      : { requestState, inputResponses: { ok: { action: 'accept', content: { ok: true } } } };
  return toolRound(client, { name: 'export', arguments: {}, ...answered });
}

describe('a class-level retry() of a multi round-trip call after a failed try', () => {
  test("the try's input_required answer continues the call: two exports under a limit of 2", async () => {
    const rounds: RoundAnswer[] = [];
    for (let call = 0; call < 2; call++) {
      const first = await round();
      rounds.push(first);
      if (first === 'denied' || first.requestState === undefined) break;
      rounds.push(await round(first.requestState));
    }
    expect(rounds).not.toContain('denied');
    expect(exported).toBe(2);
    // A third logical call is denied: the limit holds.
    expect(await round()).toBe('denied');
  });
});

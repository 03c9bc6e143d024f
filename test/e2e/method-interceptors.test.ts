// A limited handler's own interceptors (`@UseInterceptors` on the method) sit between the module's
// follow-up and the handler. The module followed the handler from next to it, so it judged what
// each run did, not what the call did: a method-level retry() had each failed attempt given back
// under `refundWhen` (a call that failed once and then succeeded cost nothing), and refused the
// retry of a handler with a ConcurrencyLimit (its slot had been freed by the failed attempt); a
// method-level cache interceptor stored the caller's quota (`advertiseLimits`) with the result
// and answered it, stale, to later callers; and a cache hit on STDIO, which answers without the
// handler and has no HTTP response to close, held the call's slot until its lease ended.
import 'reflect-metadata';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import { Client } from '@modelcontextprotocol/client';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import {
  Injectable,
  UseInterceptors,
  type CallHandler,
  type INestApplication,
  type NestInterceptor,
} from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { McpController, Tool } from '@rekog/mcp-nest';
import { retry, timeout, type Observable } from 'rxjs';
import { z } from 'zod';
import {
  ConcurrencyLimit,
  FixedWindowRateLimit,
  RateLimit,
  RateLimitOptions,
  type McpRateLimitModuleOptions,
} from '../../src/index.js';
import { CacheAll } from '../fixtures/cache-all.js';
import { callToolOrCode, serveToolsWithClient } from '../fixtures/mcp-nest-server.js';
import { transpileForNode } from '../fixtures/transpile.js';

const apps: INestApplication[] = [];
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** Runs of the handler; every odd run fails (a flaky downstream API), the retry succeeds. */
let runs = 0;

@Injectable()
class RetryOnce implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(retry(1));
  }
}

@McpController()
class FlakyTools {
  @Tool({ name: 'flaky', description: 'Fails every other run', parameters: z.object({}) })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  @RateLimitOptions({ refundWhen: (outcome) => outcome.failed })
  @UseInterceptors(RetryOnce)
  flaky(@Payload() _args: object) {
    runs++;
    if (runs % 2 === 1) throw new Error('downstream hiccup');
    return { content: [{ type: 'text', text: 'done' }] };
  }

  @Tool({ name: 'flakySlot', description: 'Fails every other run', parameters: z.object({}) })
  @RateLimit(new ConcurrencyLimit({ maxConcurrent: 1 }))
  @UseInterceptors(RetryOnce)
  async flakySlot(@Payload() _args: object) {
    runs++;
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (runs % 2 === 1) throw new Error('downstream hiccup');
    return { content: [{ type: 'text', text: 'done' }] };
  }

  @Tool({ name: 'cached', description: 'Answered from a cache', parameters: z.object({}) })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 60 }))
  @UseInterceptors(CacheAll)
  cached(@Payload() _args: object) {
    runs++;
    return { content: [{ type: 'text', text: 'fresh' }] };
  }
}

@Injectable()
class GiveUpQuickly implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(timeout(50));
  }
}

let released: (() => void)[] = [];

@McpController()
class SlowTools {
  @Tool({ name: 'slow', description: 'Slower than its timeout', parameters: z.object({}) })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  @RateLimitOptions({ refundWhen: (outcome) => outcome.failed })
  @UseInterceptors(GiveUpQuickly)
  async slow(@Payload() _args: object) {
    runs++;
    await new Promise<void>((resolve) => released.push(resolve));
    return { content: [{ type: 'text', text: 'late' }] };
  }
}

@McpController()
@UseInterceptors(RetryOnce)
class RetriedTools {
  @Tool({ name: 'retried', description: 'Fails every other run', parameters: z.object({}) })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  @RateLimitOptions({ refundWhen: (outcome) => outcome.failed })
  retried(@Payload() _args: object) {
    runs++;
    if (runs % 2 === 1) throw new Error('downstream hiccup');
    successes++;
    return { content: [{ type: 'text', text: 'done' }] };
  }
}

let successes = 0;

afterEach(() => {
  for (const release of released) release();
  released = [];
});

async function serve(
  options: McpRateLimitModuleOptions = {},
  tools: unknown = FlakyTools,
): Promise<Client> {
  runs = 0;
  successes = 0;
  const providers = [RetryOnce, CacheAll, GiveUpQuickly];
  const served = await serveToolsWithClient('method-interceptors', [tools], providers, options);
  apps.push(served.app);
  clients.push(served.client);
  return served.client;
}

const call = callToolOrCode;

describe("a limited handler's method-level interceptors", () => {
  test('retry(): refundWhen judges the call, not each attempt: a call that succeeded on its retry stays charged', async () => {
    const client = await serve();
    const answers = [];
    for (let index = 0; index < 3; index++) answers.push(await call(client, 'flaky'));
    expect(
      answers.slice(0, 2).map((answer) => typeof answer === 'object' && !answer.isError),
    ).toEqual([true, true]);
    expect(answers[2]).toBe('error -32005');
    expect(runs).toBe(4);
  });

  test('retry() of a handler with a ConcurrencyLimit: the retry runs in the call slot, freed when the call ends', async () => {
    const client = await serve();
    for (let index = 0; index < 3; index++) {
      const answer = await call(client, 'flakySlot');
      expect(answer).toMatchObject({ content: [{ type: 'text', text: 'done' }] });
    }
    expect(runs).toBe(6);
  });

  test("a cache interceptor's answers carry each caller's quota of now, not the first caller's", async () => {
    const client = await serve({ advertiseLimits: true });
    const quotas = [];
    for (let index = 0; index < 3; index++) {
      const answer = (await call(client, 'cached')) as { _meta?: Record<string, unknown> };
      const quota = answer._meta?.['com.npmjs.nestjs-mcp-rate-limit/quota'] as
        { remaining: number }[] | undefined;
      quotas.push(quota?.[0]?.remaining);
    }
    expect(quotas).toEqual([4, 3, 2]);
    expect(runs).toBe(1);
  });

  test('timeout(): a call given up on while its handler works is not given back (its work goes on)', async () => {
    const client = await serve({}, SlowTools);
    const answers = [];
    for (let index = 0; index < 3; index++) answers.push(await call(client, 'slow'));
    expect(
      answers.slice(0, 2).map((answer) => typeof answer === 'object' && answer.isError),
    ).toEqual([true, true]);
    expect(answers[2]).toBe('error -32005');
    expect(runs).toBe(2);
  });
});

describe("a limited handler's class-level retry() (outside the module's follow-up)", () => {
  test('a try after the charge was given back does not run: no call runs uncharged', async () => {
    const client = await serve({}, RetriedTools);
    for (let index = 0; index < 6; index++) await call(client, 'retried');
    expect(successes).toBeLessThanOrEqual(2);
  });
});

describe('over STDIO (no HTTP response to close)', () => {
  let client: Client | undefined;
  afterEach(async () => {
    await client?.close();
    client = undefined;
  });

  test("a cache interceptor's answer without the handler frees the call's slot at once", async () => {
    const out = transpileForNode('stdio-cached');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [join(out, 'test', 'fixtures', 'stdio-cached-server.js')],
      env: getDefaultEnvironment(),
      stderr: 'ignore',
    });
    client = new Client({ name: 'stdio-cached', version: '1.0.0' });
    await client.connect(transport);
    const answers = [];
    for (let index = 0; index < 3; index++) answers.push(await call(client, 'cachedSlot'));
    for (const answer of answers) {
      expect(answer).toMatchObject({ content: [{ type: 'text', text: 'report' }] });
    }
  }, 60_000);
});

// Found by the review of 6e2eae7 (the call and its handler's runs followed apart). What must hold:
// a call is not given back while its handler may still be working, whatever the method's own
// interceptors do around the handler.
//
// A method-level interceptor that fails the call while the handler works, without a timeout()
// (a race with a hand-rolled deadline, a forkJoin beside an audit that fails), sends its error
// down the chain before it unsubscribes the handler: the module judged the call first, saw no run
// let go of yet and gave the charge back (refundWhen: failed), so every call ran for free
// (a limit of 2 per minute: 4 calls admitted, 4 handlers working at once).
//
// An interceptor that asks for the call (or for a run of the handler) and drops it before Nest
// subscribes to it, as a race with a cached answer does, had the call or the run counted as started
// though it never ran: its ConcurrencyLimit slot was held until its lease (maxConcurrent 1: every
// call after the first got -32005, the handler never having run).
//
// A method-level interceptor that answers a failure and tries the work again in the background
// (a queue of retries) ran the handler after refundWhen had given the call back: a run nobody paid
// for (a limit of 2 per minute, 4 calls: 8 runs).
//
// The handlers' interceptors are metadata of the method, shared by every app of the process (and
// every subclass): the first app to bind the call's follow-up decided for all whether the runs
// were followed. An app whose options had none to follow (advertiseLimits) left a later one with
// refundWhen without it, so a call its timeout() gave up on was given back while it worked.
import 'reflect-metadata';
import { afterEach, describe, expect, test } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/client';
import {
  HttpException,
  Injectable,
  RequestTimeoutException,
  UseInterceptors,
  type CallHandler,
  type INestApplication,
  type NestInterceptor,
} from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { McpController, Tool } from '@rekog/mcp-nest';
import {
  catchError,
  forkJoin,
  map,
  of,
  race,
  throwError,
  timeout,
  timer,
  type Observable,
} from 'rxjs';
import { z } from 'zod';
import {
  ConcurrencyLimit,
  FixedWindowRateLimit,
  RateLimit,
  RateLimitOptions,
  type McpRateLimitModuleOptions,
} from '../../src/index.js';
import { callToolOrCode, serveToolsWithClient } from '../fixtures/mcp-nest-server.js';

const apps: INestApplication[] = [];
const clients: Client[] = [];
/** Runs of the handlers, and how to end the ones still working. */
let runs = 0;
const working: (() => void)[] = [];
afterEach(async () => {
  for (const end of working.splice(0)) end();
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** Fails after `ms`. */
function failAfter(ms: number, error: () => Error): Observable<never> {
  return timer(ms).pipe(
    map(() => {
      throw error();
    }),
  );
}

/** A deadline of its own: the first to answer or fail wins. */
@Injectable()
class Deadline implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler): Observable<unknown> {
    return race(
      next.handle(),
      failAfter(50, () => new RequestTimeoutException()),
    );
  }
}

/** Runs the handler beside an audit that fails. */
@Injectable()
class Audited implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler): Observable<unknown> {
    const audit = failAfter(50, () => new Error('audit log unavailable'));
    return forkJoin([next.handle(), audit]).pipe(map(([result]) => result));
  }
}

/** Answers from its cache when it has the answer, racing the handler. */
@Injectable()
class RacedWithCache implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler): Observable<unknown> {
    return race(next.handle(), of({ content: [{ type: 'text', text: 'cached' }] }));
  }
}

/** Answers a failure at once and tries the work again in the background, later. */
@Injectable()
class RetriedLater implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      catchError((error: unknown) => {
        setTimeout(() => {
          next.handle().subscribe({
            error: (failure: unknown) =>
              background.push(failure instanceof HttpException ? failure.getStatus() : 'ran'),
          });
        }, 10);
        return throwError(() => error);
      }),
    );
  }
}

/** How each background retry ended: the HTTP status it was refused with, or 'ran'. */
let background: (number | string)[] = [];

/** Work that takes long (a model it asks), ignoring that its caller gave up. */
async function longWork() {
  runs++;
  await new Promise<void>((resolve) => working.push(resolve));
  return { content: [{ type: 'text' as const, text: 'late' }] };
}

@McpController()
class Tools {
  @Tool({ name: 'deadline', description: 'Raced with a deadline', parameters: z.object({}) })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  @RateLimitOptions({ refundWhen: (outcome) => outcome.failed })
  @UseInterceptors(Deadline)
  deadline(@Payload() _args: object) {
    return longWork();
  }

  @Tool({ name: 'audited', description: 'Run beside an audit', parameters: z.object({}) })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  @RateLimitOptions({ refundWhen: (outcome) => outcome.failed })
  @UseInterceptors(Audited)
  audited(@Payload() _args: object) {
    return longWork();
  }

  @Tool({ name: 'deadlineSlot', description: 'Raced with a deadline', parameters: z.object({}) })
  @RateLimit(
    new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }),
    new ConcurrencyLimit({ maxConcurrent: 5 }),
  )
  @RateLimitOptions({ refundWhen: (outcome) => outcome.failed })
  @UseInterceptors(Deadline)
  deadlineSlot(@Payload() _args: object) {
    return longWork();
  }
}

@McpController()
class CachedTools {
  @Tool({ name: 'cachedSlot', description: 'Answered from a cache', parameters: z.object({}) })
  @RateLimit(new ConcurrencyLimit({ maxConcurrent: 1 }))
  @UseInterceptors(RacedWithCache)
  cachedSlot(@Payload() _args: object) {
    runs++;
    return { content: [{ type: 'text', text: 'fresh' }] };
  }
}

@McpController()
@UseInterceptors(RacedWithCache)
class CachedClass {
  @Tool({ name: 'cachedByClass', description: 'Answered from a cache', parameters: z.object({}) })
  @RateLimit(new ConcurrencyLimit({ maxConcurrent: 1 }))
  cachedByClass(@Payload() _args: object) {
    runs++;
    return { content: [{ type: 'text', text: 'fresh' }] };
  }
}

@McpController()
class QueuedTools {
  @Tool({ name: 'queued', description: 'Retried in the background', parameters: z.object({}) })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  @RateLimitOptions({ refundWhen: (outcome) => outcome.failed })
  @UseInterceptors(RetriedLater)
  queued(@Payload() _args: object) {
    runs++;
    throw new Error('downstream unavailable');
  }
}

/** Gives up on the handler after 50 ms (Nest's timeout() recipe). */
@Injectable()
class GiveUpQuickly implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(timeout(50));
  }
}

/** Served by two apps of one process: one advertises limits, the other gives failed calls back. */
@McpController()
class SharedTools {
  @Tool({ name: 'shared', description: 'Slower than its timeout', parameters: z.object({}) })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  @UseInterceptors(GiveUpQuickly)
  shared(@Payload() _args: object) {
    return longWork();
  }
}

async function serve(
  tools: unknown = Tools,
  options: McpRateLimitModuleOptions = {},
): Promise<Client> {
  runs = 0;
  background = [];
  const providers = [Deadline, Audited, RacedWithCache, RetriedLater, GiveUpQuickly];
  const served = await serveToolsWithClient('method-interceptor-runs', [tools], providers, options);
  apps.push(served.app);
  clients.push(served.client);
  return served.client;
}

const call = callToolOrCode;

describe('a method-level interceptor that fails the call while its handler still works', () => {
  test.each(['deadline', 'audited', 'deadlineSlot'])(
    '%s: the call is not given back, the limit holds',
    async (name) => {
      const client = await serve();
      const answers = [];
      for (let index = 0; index < 4; index++) answers.push(await call(client, name));
      expect(answers.slice(0, 2)).toEqual([
        expect.objectContaining({ isError: true }),
        expect.objectContaining({ isError: true }),
      ]);
      expect(answers.slice(2)).toEqual(['error -32005', 'error -32005']);
      expect(runs).toBe(2);
    },
  );
});

describe('an interceptor that asks for the call or a run and drops it before it runs', () => {
  test.each([
    ['on the method (a run asked for)', 'cachedSlot', CachedTools],
    ['on the class (the call asked for)', 'cachedByClass', CachedClass],
  ])('%s: the slot comes back, the next call is answered', async (_where, name, tools) => {
    const client = await serve(tools);
    const answers = [];
    for (let index = 0; index < 3; index++) answers.push(await call(client, name));
    for (const answer of answers) {
      expect(answer).toMatchObject({ content: [{ type: 'text', text: 'cached' }] });
    }
    expect(runs).toBe(0);
  });
});

describe('a method-level interceptor that runs the handler again after the call was given back', () => {
  test('the run is refused: no run nobody paid for', async () => {
    const client = await serve(QueuedTools);
    for (let index = 0; index < 4; index++) {
      expect(await call(client, 'queued')).toMatchObject({ isError: true });
    }
    const deadline = Date.now() + 2_000;
    while (background.length < 4 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(background).toEqual([409, 409, 409, 409]);
    expect(runs).toBe(4);
  });
});

describe('handlers shared by two apps of one process, with different module options', () => {
  test('the app with refundWhen follows the runs too: a call given up on is not given back', async () => {
    await serve(SharedTools, { advertiseLimits: true });
    const client = await serve(SharedTools, { refundWhen: (outcome) => outcome.failed });
    const answers = [];
    for (let index = 0; index < 3; index++) answers.push(await call(client, 'shared'));
    expect(answers.slice(0, 2)).toEqual([
      expect.objectContaining({ isError: true }),
      expect.objectContaining({ isError: true }),
    ]);
    expect(answers[2]).toBe('error -32005');
    expect(runs).toBe(2);
  });
});

// Found by attack review 7: an authenticated request.user that has none of id, sub, userId (a lean
// MongoDB document `{ _id, email }`, a `{ username }` from a custom strategy, a bare string) was
// silently keyed by the client's IP address: every user behind one address shared one quota (and
// with the anonymous callers there), so one of them exhausted the others'. Now `_id` is an id, a
// string user is its own id, and a user object with no usable id is a configuration error (the call
// fails, no quota is spent), never an address.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  Controller,
  Injectable,
  Module,
  type INestApplication,
  type MiddlewareConsumer,
  type NestMiddleware,
  type NestModule,
} from '@nestjs/common';
import {
  McpController,
  McpHttpControllerFor,
  StreamableHttpTransport,
  Tool,
} from '@rekog/mcp-nest';
import { FixedWindowRateLimit, McpRateLimitModule, RateLimit } from '../../src/index.js';
import { serveMcpNest } from '../fixtures/mcp-nest-server.js';

/** Shapes an auth layer may give request.user that key a user: for the user named in X-User. */
const keyedShapes: Record<string, (name: string) => unknown> = {
  'a lean MongoDB document { _id, email }': (name) => ({ _id: name, email: `${name}@example.com` }),
  'a bare string': (name) => name,
};

let shape: (name: string) => unknown = keyedShapes['a bare string'];
let runs = 0;

@Injectable()
class AuthMiddleware implements NestMiddleware {
  use(request: { headers: Record<string, unknown>; user?: unknown }, _: unknown, next: () => void) {
    const name = request.headers['x-user'];
    if (typeof name === 'string') request.user = shape(name);
    next();
  }
}

@McpController()
class Tools {
  @Tool({ name: 'search', description: '2 per minute per user' })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  search() {
    runs++;
    return 'results';
  }
}

let app: INestApplication;
let url: string;

beforeAll(async () => {
  const transport = new StreamableHttpTransport();
  @Controller('mcp')
  class McpEndpoint extends McpHttpControllerFor(transport) {}
  @Module({ imports: [McpRateLimitModule.forRoot()], controllers: [McpEndpoint, Tools] })
  class AppModule implements NestModule {
    configure(consumer: MiddlewareConsumer) {
      consumer.apply(AuthMiddleware).forRoutes(McpEndpoint);
    }
  }
  let endpoint: URL;
  ({ app, url: endpoint } = await serveMcpNest(AppModule, transport, 'users'));
  url = endpoint.href;
});

afterAll(async () => {
  await app?.close();
});

interface Answer {
  error?: { code?: number };
  result?: { isError?: boolean; content?: { text?: string }[] };
}

async function callAs(user: string): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
      'x-user': user,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'search', arguments: {} },
    }),
  });
  return (await response.json()) as Answer;
}

describe.each(Object.keys(keyedShapes))('request.user is %s: it keys the user', (name) => {
  test("one user's calls never use up another user's quota (both behind one address)", async () => {
    shape = keyedShapes[name];
    const alice = `alice-${name.length}`;
    const bob = `bob-${name.length}`;
    const alices = [];
    for (let call = 0; call < 3; call++) alices.push(await callAs(alice));
    expect(alices.map((answer) => answer.error?.code ?? 'ran')).toEqual(['ran', 'ran', -32005]);
    const bobsFirst = await callAs(bob);
    expect(bobsFirst.result?.isError).toBeUndefined();
    expect(bobsFirst.error).toBeUndefined();
  });
});

test('request.user is a { username } object (no id): every call fails, no user shares a quota', async () => {
  shape = (name) => ({ username: name });
  runs = 0;
  const answers = [];
  for (let call = 0; call < 3; call++) answers.push(await callAs('carol'));
  answers.push(await callAs('dave'));
  // A configuration error (RateLimitConfigError: the subject cannot be found), not a denial.
  expect(answers.map((answer) => [answer.error?.code, answer.result?.isError])).toEqual(
    Array.from({ length: 4 }, () => [undefined, true]),
  );
  expect(runs).toBe(0);
});

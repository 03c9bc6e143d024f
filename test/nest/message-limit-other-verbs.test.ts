// Found by attack review 12: the message-level limit counted POSTed messages only. A JSON-RPC
// controller marked @LimitMcpMessages() whose route takes every verb (@All(), or @Put()) ran the
// messages a client sent with PUT or PATCH just the same, and none was counted: 10 of 10 requests
// ran under "3 per minute". What must hold: a request that carries JSON-RPC messages to a
// @LimitMcpMessages() route counts, whatever its verb (a GET or DELETE without a body, the MCP
// stream and session verbs, still counts nothing). Real Nest app, raw HTTP over real sockets.
import 'reflect-metadata';
import { afterEach, expect, test } from '@jest/globals';
import { All, Body, Controller, HttpCode, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { connect } from 'node:http2';
import { FixedWindowRateLimit, LimitMcpMessages, McpRateLimitModule } from '../../src/index.js';
import { serveHttp } from '../fixtures/http-app.js';

let ran = 0;

@Controller('rpc')
@LimitMcpMessages()
class AnyVerbJsonRpc {
  @All()
  @HttpCode(200)
  handle(@Body() message?: { id?: number; method?: string }) {
    if (message?.method === undefined) return { ok: 'no message' };
    ran++;
    return { jsonrpc: '2.0', id: message.id, result: { content: [] } };
  }
}

@Module({
  imports: [
    McpRateLimitModule.forRoot({
      messageLimit: { limits: [new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 3600 })] },
    }),
  ],
  controllers: [AnyVerbJsonRpc],
})
class AppModule {}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
  ran = 0;
});

test('messages sent with PUT or PATCH count like POSTed ones; a bodiless GET counts nothing', async () => {
  const served = await serveHttp(AppModule, 'rpc');
  app = served.app;
  for (let index = 0; index < 5; index++) {
    expect((await fetch(served.url)).status).toBe(200); // GET, no body: nothing to count
  }
  const answers: string[] = [];
  for (let id = 1; id <= 10; id++) {
    const response = await fetch(served.url, {
      method: id % 2 === 0 ? 'PUT' : 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'x' } }),
    });
    const body = (await response.json()) as { error?: { code: number } };
    answers.push(body.error === undefined ? 'ran' : String(body.error.code));
  }
  expect(answers.filter((answer) => answer === 'ran')).toHaveLength(3);
  expect(answers.slice(3)).toEqual(Array.from({ length: 7 }, () => '-32005'));
  expect(ran).toBe(3);
});

test('over HTTP/2 too, where a body comes without Content-Length or Transfer-Encoding', async () => {
  // Review of attack review 12: the count asked the headers whether a non-POST request had a
  // body, and HTTP/2 needs neither header: 10 of 10 PUTs ran under "3 an hour" on Fastify.
  app = await NestFactory.create(AppModule, new FastifyAdapter({ http2: true }), { logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  const session = connect(`http://127.0.0.1:${port}`);
  const put = (id: number) =>
    new Promise<string>((resolve, reject) => {
      const stream = session.request({
        ':method': 'PUT',
        ':path': '/rpc',
        'content-type': 'application/json',
      });
      let answer = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => (answer += chunk));
      stream.on('end', () => resolve(answer));
      stream.on('error', reject);
      stream.end(JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: {} }));
    });
  try {
    const answers: string[] = [];
    for (let id = 1; id <= 10; id++) {
      const body = JSON.parse(await put(id)) as { error?: { code: number } };
      answers.push(body.error === undefined ? 'ran' : String(body.error.code));
    }
    expect(answers.filter((answer) => answer === 'ran')).toHaveLength(3);
    expect(ran).toBe(3);
  } finally {
    session.close();
  }
});

// Found by attack review 5: a ConcurrencyLimit on a route answering with a stream (StreamableFile)
// freed its slot as soon as the handler returned the stream, while the response was still being
// sent: any number of downloads ran at once under ConcurrencyLimit({ maxConcurrent: 1 }). What
// must hold: on a plain HTTP route a slot is held until the response is done (finish or close).
import 'reflect-metadata';
import { PassThrough } from 'node:stream';
import http from 'node:http';
import { afterEach, describe, expect, test } from '@jest/globals';
import { Controller, Get, Module, StreamableFile, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { ConcurrencyLimit, McpRateLimitModule, RateLimit } from '../../src/index.js';

const streams: PassThrough[] = [];
const apps: INestApplication[] = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.end();
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

@Controller('export')
class ExportController {
  @Get()
  @RateLimit(new ConcurrencyLimit({ maxConcurrent: 1 }))
  download() {
    const stream = new PassThrough();
    streams.push(stream);
    stream.write('first chunk\n'); // the rest comes later: the download is still in flight
    return new StreamableFile(stream);
  }
}

/** Starts a GET and resolves with its status and first chunk, leaving the response open. */
function startDownload(url: string): Promise<{ status: number; first: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false }, (response) => {
      response.once('data', (chunk: Buffer) => {
        resolve({ status: response.statusCode ?? 0, first: chunk.toString() });
      });
    });
    request.on('error', reject);
  });
}

describe('ConcurrencyLimit and streamed responses', () => {
  test.each(['express', 'fastify'] as const)(
    'a second download while the first is still streaming is denied (%s)',
    async (platform) => {
      @Module({ imports: [McpRateLimitModule.forRoot()], controllers: [ExportController] })
      class AppModule {}
      const app =
        platform === 'fastify'
          ? await NestFactory.create(AppModule, new FastifyAdapter(), { logger: false })
          : await NestFactory.create(AppModule, { logger: false });
      apps.push(app);
      await app.listen(0, '127.0.0.1');
      const { port } = app.getHttpServer().address() as { port: number };
      const url = `http://127.0.0.1:${port}/export`;
      const first = await startDownload(url);
      expect(first.first).toBe('first chunk\n');
      // The first download is still open (its stream has not ended).
      const second = await startDownload(url);
      expect(second.first).not.toBe('first chunk\n'); // denied: a JSON-RPC -32005 body instead
      expect(second.first).toContain('-32005');
    },
  );
});

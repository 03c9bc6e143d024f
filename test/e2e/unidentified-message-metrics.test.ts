// Found by attack review 9: a denied unidentified caller is missing from the decision metric on a
// `@LimitMcpMessages()` endpoint that has no `@RateLimit()` of its own (the usual MCP endpoint).
// reportUnidentified records the denial on the handler-scope recorder, which such an endpoint does
// not have (only a message-scope one), so `mcp_rate_limit.decisions` never counts it, while
// `onDecision` is told. A flood of calls whose connections are reset before they are decided
// (exactly how one makes itself unidentified) is invisible on the dashboards: "allowed + denied is
// the number of decisions" (README, Metrics) does not hold.
import 'reflect-metadata';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  Controller,
  HttpCode,
  Injectable,
  Module,
  Post,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  FixedWindowRateLimit,
  LimitMcpMessages,
  McpRateLimitModule,
  type RateLimitEvent,
} from '../../src/index.js';
import { DECISIONS_METRIC } from '../../src/nest/telemetry.js';

/** A slow global step before the limit (an auth lookup, say): the client is gone by then. */
@Injectable()
class SlowAuthGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const socket = context.switchToHttp().getRequest<{ socket: Socket }>().socket;
    if (!socket.destroyed) await once(socket, 'close');
    return true;
  }
}

@Controller('mcp')
@LimitMcpMessages()
class McpEndpoint {
  @Post()
  @HttpCode(200)
  handle() {
    return { jsonrpc: '2.0', id: 1, result: {} };
  }
}

const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
const meterProvider = new MeterProvider({ readers: [reader] });
const events: RateLimitEvent[] = [];
let app: INestApplication;
let port: number;

beforeAll(async () => {
  @Module({
    imports: [
      McpRateLimitModule.forRoot({
        messageLimit: { limits: [new FixedWindowRateLimit({ maxCalls: 100, perSeconds: 60 })] },
        metrics: { meterProvider },
        onDecision: (event) => events.push(event),
      }),
    ],
    controllers: [McpEndpoint],
    providers: [{ provide: APP_GUARD, useClass: SlowAuthGuard }],
  })
  class AppModule {}
  app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  port = (app.getHttpServer().address() as { port: number }).port;
});
afterAll(async () => {
  await app?.close();
  await meterProvider.shutdown();
});

async function callAndReset(id: number): Promise<void> {
  const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'x' } });
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(
    [
      'POST /mcp HTTP/1.1',
      `Host: 127.0.0.1:${port}`,
      'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n'),
  );
  await new Promise((resolve) => setImmediate(resolve));
  socket.resetAndDestroy();
  await once(socket, 'close');
}

test('an unidentified caller denied at a @LimitMcpMessages() endpoint is in the message-scope decision metric', async () => {
  for (let call = 1; call <= 3; call++) await callAndReset(call);
  while (events.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(events.map((event) => event.type)).toEqual(['denied', 'denied', 'denied']);
  expect(events.map((event) => event.scope)).toEqual(['message', 'message', 'message']);

  await reader.forceFlush();
  let denied = 0;
  for (const resourceMetrics of exporter.getMetrics()) {
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        if (metric.descriptor.name !== DECISIONS_METRIC) continue;
        for (const point of metric.dataPoints) {
          if (point.attributes['mcp_rate_limit.outcome'] !== 'denied') continue;
          // The message-level limit is the only one here: its scope, as the hook was told.
          expect(point.attributes['mcp_rate_limit.scope']).toBe('message');
          denied += point.value as number;
        }
      }
    }
  }
  expect(denied).toBe(3);
});

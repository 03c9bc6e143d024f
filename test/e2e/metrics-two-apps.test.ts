// Two Nest apps in one process (an HTTP app and a second one from the same AppModule, or two
// tenants) recording with one meter provider (the global one, by default). Each module observed
// its own running totals into the same `mcp_rate_limit.decisions` series (same handler, scope,
// method, outcome), and OpenTelemetry keeps the last observation of a series: the decisions of
// one app vanished from the counter (3 + 2 admitted calls were reported as 2). Likewise the outage
// gauge showed whichever app observed last, not a store in outage. One provider must see the sum.
import 'reflect-metadata';
import { afterAll, describe, expect, test } from '@jest/globals';
import { Controller, HttpCode, Module, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { FixedWindowRateLimit, McpRateLimitModule, RateLimit } from '../../src/index.js';
import { DECISIONS_METRIC } from '../../src/nest/telemetry.js';

@Controller('export')
class ExportController {
  @Post()
  @HttpCode(200)
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 100, perSeconds: 60 }))
  run() {
    return { ok: true };
  }
}

const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
const meterProvider = new MeterProvider({ readers: [reader] });
const apps: INestApplication[] = [];

afterAll(async () => {
  await Promise.all(apps.map((app) => app.close()));
  await meterProvider.shutdown();
});

async function startApp(): Promise<string> {
  @Module({
    imports: [McpRateLimitModule.forRoot({ metrics: { meterProvider } })],
    controllers: [ExportController],
  })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false });
  apps.push(app);
  await app.listen(0, '127.0.0.1');
  return `${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/export`;
}

async function allowedCounted(): Promise<number> {
  await reader.forceFlush();
  const batches = exporter.getMetrics();
  const last = batches[batches.length - 1];
  const metric = last.scopeMetrics
    .flatMap((scope) => scope.metrics)
    .find((candidate) => candidate.descriptor.name === DECISIONS_METRIC);
  expect(metric?.dataPointType).toBe(DataPointType.SUM);
  return (metric?.dataPoints ?? [])
    .filter((point) => point.attributes['mcp_rate_limit.outcome'] === 'allowed')
    .reduce((sum, point) => sum + (point.value as number), 0);
}

describe('two apps recording with one meter provider', () => {
  test('the decisions counter counts the decisions of both', async () => {
    const first = await startApp();
    const second = await startApp();
    for (let index = 0; index < 3; index++) await fetch(first, { method: 'POST' });
    for (let index = 0; index < 2; index++) await fetch(second, { method: 'POST' });
    expect(await allowedCounted()).toBe(5);
  });
});

describe('two modules observing the store outage with one meter provider', () => {
  test('the gauge is 1 while either store is in outage', async () => {
    const { MetricReader } = await import('@opentelemetry/sdk-metrics');
    const { RateLimitMetrics, STORE_OUTAGE_METRIC } = await import('../../src/nest/telemetry.js');
    class Reader extends MetricReader {
      protected onForceFlush = () => Promise.resolve();
      protected onShutdown = () => Promise.resolve();
    }
    const outageReader = new Reader();
    const provider = new MeterProvider({ readers: [outageReader] });
    const inOutage = new RateLimitMetrics(provider);
    const healthy = new RateLimitMetrics(provider);
    inOutage.observeStoreOutage(() => true);
    healthy.observeStoreOutage(() => false);
    const { resourceMetrics } = await outageReader.collect();
    const gauge = resourceMetrics.scopeMetrics
      .flatMap((scope) => scope.metrics)
      .find((metric) => metric.descriptor.name === STORE_OUTAGE_METRIC);
    expect(gauge?.dataPoints.map((point) => point.value)).toEqual([1]);
    inOutage.close();
    healthy.close();
    await provider.shutdown();
  });
});

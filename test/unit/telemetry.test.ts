// The OpenTelemetry metrics, recorded into the real OpenTelemetry SDK (a MeterProvider whose reader
// exports to the SDK's in-memory exporter) and read back as a backend would receive them.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { metrics as otelMetrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import {
  DECISIONS_METRIC,
  RateLimitMetrics,
  STORE_DURATION_METRIC,
  STORE_OUTAGE_METRIC,
} from '../../src/nest/telemetry.js';
import {
  CacheManagerStore,
  FixedWindowRateLimit,
  MemoryStore,
  ResilientStore,
  type LimitCheck,
} from '../../src/index.js';
import type { RateLimitEvent } from '../../src/nest/options.js';

const limit = new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 });
const check = (key: string): LimitCheck => ({ key, limit, cost: 1 });

/** A cache that never answers, as a partitioned backend's would: the store times out. */
const hangingCache = {
  get: () => new Promise<undefined>(() => undefined),
  set: () => new Promise<void>(() => undefined),
};

let exporter: InMemoryMetricExporter;
let reader: PeriodicExportingMetricReader;
let provider: MeterProvider;

beforeEach(() => {
  exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Exports only when asked (forceFlush): the interval is never reached by a test.
  reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  provider = new MeterProvider({ readers: [reader] });
});

afterEach(async () => {
  otelMetrics.disable();
  await provider.shutdown();
});

/** Every metric exported so far, by name (the last export of each). */
async function collected(): Promise<Map<string, MetricData>> {
  await reader.forceFlush();
  const byName = new Map<string, MetricData>();
  for (const resourceMetrics of exporter.getMetrics()) {
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
    }
  }
  return byName;
}

/** The data points of a sum (counter) as `{ attributes, value }`. */
function sumPoints(metric: MetricData | undefined) {
  expect(metric?.dataPointType).toBe(DataPointType.SUM);
  return (metric?.dataPoints ?? []).map((point) => ({
    attributes: point.attributes,
    value: point.value as number,
  }));
}

/** What the guard tells the decision hook, turned into a metric the way the module records it. */
function recordEvent(recorder: RateLimitMetrics, event: RateLimitEvent): void {
  recorder.forHandler(event.handler, event.scope).record(event.type, event.method);
}

describe('RateLimitMetrics: decisions', () => {
  it('counts decisions by outcome, handler, MCP method and scope, never by subject or target', async () => {
    const recorder = new RateLimitMetrics(provider);
    const event = (
      type: RateLimitEvent['type'],
      handler: string,
      scope: RateLimitEvent['scope'],
      method: string | undefined,
      subject: string,
    ): RateLimitEvent => ({
      type,
      scope,
      handler,
      subject,
      method,
      target: 'forecast-for-secret-city',
      limit: undefined,
      retryAfter: type === 'denied' ? 3 : null,
    });
    recordEvent(
      recorder,
      event('allowed', 'Tools.forecast', 'handler', 'tools/call', 'user:alice'),
    );
    recordEvent(recorder, event('allowed', 'Tools.forecast', 'handler', 'tools/call', 'user:bob'));
    recordEvent(recorder, event('denied', 'Tools.forecast', 'handler', 'tools/call', 'user:alice'));
    recordEvent(
      recorder,
      event('allowed', 'Rpc.handle', 'message', 'tools/list', 'ip:203.0.113.9'),
    );
    recordEvent(recorder, event('store-error', 'Rpc.handle', 'message', undefined, 'user:carol'));

    const exported = await collected();
    const decisions = exported.get(DECISIONS_METRIC);
    expect(decisions?.descriptor.unit).toBe('{decision}');
    // A monotonic sum: a backend sees an ordinary counter.
    expect(decisions?.dataPointType === DataPointType.SUM && decisions.isMonotonic).toBe(true);
    const points = sumPoints(decisions);
    const attributes = (outcome: string, handler: string, scope: string, method?: string) => ({
      'mcp_rate_limit.outcome': outcome,
      'mcp_rate_limit.handler': handler,
      'mcp_rate_limit.scope': scope,
      ...(method === undefined ? {} : { 'mcp.method.name': method }),
    });
    expect(points).toHaveLength(4);
    expect(points).toEqual(
      expect.arrayContaining([
        { attributes: attributes('allowed', 'Tools.forecast', 'handler', 'tools/call'), value: 2 },
        { attributes: attributes('denied', 'Tools.forecast', 'handler', 'tools/call'), value: 1 },
        { attributes: attributes('allowed', 'Rpc.handle', 'message', 'tools/list'), value: 1 },
        { attributes: attributes('store-error', 'Rpc.handle', 'message'), value: 1 },
      ]),
    );
    // Nothing a backend receives names a caller or what they asked for.
    const everything = JSON.stringify(exporter.getMetrics());
    for (const secret of ['alice', 'bob', 'carol', '203.0.113.9', 'secret-city']) {
      expect(everything).not.toContain(secret);
    }
  });

  it('records a method outside MCP as _OTHER, so a client cannot mint time series', async () => {
    const recorder = new RateLimitMetrics(provider);
    const endpoint = recorder.forHandler('Rpc.handle', 'message');
    for (let index = 0; index < 50; index++) endpoint.record('allowed', `made/up/${index}`);
    endpoint.record('allowed', 'tools/call');
    endpoint.record('allowed', 'subscriptions/listen'); // 2026-07-28's change-event stream

    const points = sumPoints((await collected()).get(DECISIONS_METRIC));
    expect(points.map((point) => [point.attributes['mcp.method.name'], point.value])).toEqual(
      expect.arrayContaining([
        ['_OTHER', 50],
        ['tools/call', 1],
        ['subscriptions/listen', 1],
      ]),
    );
    expect(points).toHaveLength(3);
  });

  it('counts a batch of messages decided at once as that many decisions', async () => {
    const recorder = new RateLimitMetrics(provider);
    recorder.forHandler('Rpc.handle', 'message').record('denied', 'tools/call', 3);
    const points = sumPoints((await collected()).get(DECISIONS_METRIC));
    expect(points.map((point) => point.value)).toEqual([3]);
  });

  it('gives the same recorder for the same handler and scope', () => {
    const recorder = new RateLimitMetrics(provider);
    const first = recorder.forHandler('Tools.forecast', 'handler');
    expect(recorder.forHandler('Tools.forecast', 'handler')).toBe(first);
    expect(recorder.forHandler('Tools.forecast', 'message')).not.toBe(first);
    expect(recorder.forHandler('Tools.other', 'handler')).not.toBe(first);
  });

  it('reports running totals: each collection sees every decision since the start, once', async () => {
    const recorder = new RateLimitMetrics(provider);
    const tools = recorder.forHandler('Tools.forecast', 'handler');
    tools.record('allowed', 'tools/call');
    tools.record('allowed', 'tools/call');
    const first = sumPoints((await collected()).get(DECISIONS_METRIC));
    expect(first.map((point) => point.value)).toEqual([2]);
    tools.record('allowed', 'tools/call');
    const second = sumPoints((await collected()).get(DECISIONS_METRIC));
    expect(second.map((point) => point.value)).toEqual([3]);
    expect((await collected()).get(DECISIONS_METRIC)?.dataPoints[0].value).toBe(3);
  });
});

describe('RateLimitMetrics: the store', () => {
  it('times store calls in seconds, with error.type when one fails', async () => {
    const recorder = new RateLimitMetrics(provider);
    const healthy = recorder.timeStore(new MemoryStore());
    await healthy.evaluate([check('a')]);
    await healthy.evaluate([check('a')]);
    const failing = recorder.timeStore(
      new CacheManagerStore(hangingCache, { operationTimeoutMs: 20 }),
    );
    await expect(failing.evaluate([check('b')])).rejects.toThrow('did not answer within 20 ms');

    const histogram = (await collected()).get(STORE_DURATION_METRIC);
    expect(histogram?.dataPointType).toBe(DataPointType.HISTOGRAM);
    expect(histogram?.descriptor.unit).toBe('s');
    const points = (histogram?.dataPoints ?? []).map((point) => ({
      attributes: point.attributes,
      value: point.value as { count: number; sum: number; buckets: { boundaries: number[] } },
    }));
    const byAttributes = (attributes: object) =>
      points.find((point) => JSON.stringify(point.attributes) === JSON.stringify(attributes))
        ?.value;
    expect(byAttributes({ 'mcp_rate_limit.store.operation': 'evaluate' })?.count).toBe(2);
    const failed = byAttributes({
      'mcp_rate_limit.store.operation': 'evaluate',
      'error.type': 'StoreUnavailableError',
    });
    expect(failed?.count).toBe(1);
    // The store waited out its 20 ms timeout: recorded in seconds, not milliseconds.
    expect(failed?.sum).toBeGreaterThanOrEqual(0.015);
    expect(failed?.sum).toBeLessThan(20);
    // Buckets fit store calls (sub-millisecond to seconds), not the SDK's millisecond defaults.
    expect(failed?.buckets.boundaries[0]).toBeLessThan(0.001);
  });

  it('forwards and times exactly the optional methods the store has', async () => {
    const recorder = new RateLimitMetrics(provider);
    const memory = new MemoryStore();
    const inner = { evaluate: (checks: readonly LimitCheck[]) => memory.evaluate(checks) };
    const bare = recorder.timeStore(inner);
    // `timed` names the store it times (for the bootstrap log line).
    expect(Object.keys(bare)).toEqual(['timed', 'evaluate']);
    expect(bare.timed).toBe(inner);

    // A custom store with every optional method, each answering what it was asked.
    const asked: string[] = [];
    const full = recorder.timeStore({
      evaluate: (checks) => memory.evaluate(checks),
      peek: async (checks) => {
        asked.push(`peek ${checks[0].key}`);
        return [];
      },
      refund: async (checks) => void asked.push(`refund ${checks[0].key}`),
      reset: async (keys) => void asked.push(`reset ${keys.join()}`),
    });
    await full.peek!([check('p')]);
    await full.refund!([check('r')]);
    await full.reset!(['x', 'y']);
    expect(asked).toEqual(['peek p', 'refund r', 'reset x,y']);

    const histogram = (await collected()).get(STORE_DURATION_METRIC);
    const operations = histogram?.dataPoints.map(
      (point) => point.attributes['mcp_rate_limit.store.operation'],
    );
    expect(operations?.sort()).toEqual(['peek', 'refund', 'reset']);
  });

  it('reports the outage as a gauge: 1 while the store is down, 0 otherwise', async () => {
    const recorder = new RateLimitMetrics(provider);
    const resilient = new ResilientStore(
      new CacheManagerStore(hangingCache, { operationTimeoutMs: 20 }),
      { policy: 'deny', logger: { warn: () => undefined } },
    );
    recorder.observeStoreOutage(() => resilient.degraded);
    const gauge = async () => {
      const metric = (await collected()).get(STORE_OUTAGE_METRIC);
      expect(metric?.dataPointType).toBe(DataPointType.GAUGE);
      return metric?.dataPoints.map((point) => point.value);
    };

    expect(await gauge()).toEqual([0]);
    await resilient.evaluate([check('c')]);
    expect(await gauge()).toEqual([1]);
  });

  it('stops asking once closed (module shutdown), and a second feed replaces the first', async () => {
    const recorder = new RateLimitMetrics(provider);
    const asked = { first: 0, second: 0 };
    recorder.observeStoreOutage(() => asked.first++ < 0);
    recorder.observeStoreOutage(() => asked.second++ < 0);
    await collected();
    expect(asked).toEqual({ first: 0, second: 1 });
    recorder.close();
    await collected();
    expect(asked).toEqual({ first: 0, second: 1 });
  });
});

describe('RateLimitMetrics.create', () => {
  it('records with the meter provider it is given', async () => {
    const recorder = await RateLimitMetrics.create({ meterProvider: provider });
    recorder?.forHandler('Tools.forecast', 'handler').record('allowed', 'tools/call');
    expect(sumPoints((await collected()).get(DECISIONS_METRIC))).toHaveLength(1);
  });

  it('uses the global meter provider of @opentelemetry/api when one is registered', async () => {
    otelMetrics.setGlobalMeterProvider(provider);
    const recorder = await RateLimitMetrics.create();
    expect(recorder).toBeInstanceOf(RateLimitMetrics);
    recorder?.forHandler('Tools.forecast', 'handler').record('denied', 'tools/call');
    expect(sumPoints((await collected()).get(DECISIONS_METRIC))).toHaveLength(1);
  });

  it('answers undefined without a meter provider: nothing to record, nothing to pay', async () => {
    otelMetrics.disable();
    expect(await RateLimitMetrics.create()).toBeUndefined();
  });
});

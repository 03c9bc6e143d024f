// OpenTelemetry metrics end to end: a real MCP-Nest app with the module's `metrics` option, the
// real OpenTelemetry SDK (MeterProvider, in-memory exporter) and the official MCP SDK client.
import { afterEach, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { CacheManagerStore, type CacheLike } from '../../src/index.js';
import {
  DECISIONS_METRIC,
  STORE_DURATION_METRIC,
  STORE_OUTAGE_METRIC,
} from '../../src/nest/telemetry.js';
import { createMcpApp, type McpApp } from '../fixtures/mcp-app.js';

interface Telemetry {
  readonly provider: MeterProvider;
  collected(): Promise<Map<string, MetricData>>;
}

function telemetry(): Telemetry {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Exports only when asked (forceFlush).
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  return {
    provider,
    async collected() {
      await reader.forceFlush();
      const byName = new Map<string, MetricData>();
      for (const resourceMetrics of exporter.getMetrics()) {
        for (const scope of resourceMetrics.scopeMetrics) {
          for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
        }
      }
      return byName;
    },
  };
}

const apps: McpApp[] = [];
const clients: Client[] = [];
const providers: MeterProvider[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(apps.splice(0).map((server) => server.app.close()));
  await Promise.all(providers.splice(0).map((provider) => provider.shutdown()));
});

async function connect(url: URL, user: string): Promise<Client> {
  const client = new Client({ name: 'metrics-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(url, {
      requestInit: { headers: { authorization: `Bearer user:${user}` } },
    }),
  );
  clients.push(client);
  return client;
}

/** The counter's points as `outcome handler method scope` → value. */
function decisionsOf(metric: MetricData | undefined): Map<string, number> {
  const points = new Map<string, number>();
  for (const point of metric?.dataPoints ?? []) {
    const a = point.attributes;
    const key = [
      a['mcp_rate_limit.outcome'],
      a['mcp_rate_limit.handler'],
      a['mcp.method.name'],
      a['mcp_rate_limit.scope'],
    ].join(' ');
    points.set(key, point.value as number);
  }
  return points;
}

describe('metrics of a running MCP-Nest app', () => {
  test('3 calls of a limit of 2: allowed 2 and denied 1, by handler, method and scope; no subject anywhere', async () => {
    const otel = telemetry();
    providers.push(otel.provider);
    const server = await createMcpApp({
      transport: 'http',
      messageLimit: 100,
      moduleOptions: { metrics: { meterProvider: otel.provider } },
    });
    apps.push(server);
    const client = await connect(server.url!, 'metrics-user-7f3a');
    for (let call = 0; call < 2; call++) await client.callTool({ name: 'browse', arguments: {} });
    await expect(client.callTool({ name: 'browse', arguments: {} })).rejects.toMatchObject({
      code: -32005,
    });

    const metrics = await otel.collected();
    const decisions = decisionsOf(metrics.get(DECISIONS_METRIC));
    expect(decisions.get('allowed CatalogTools.browse tools/call handler')).toBe(2);
    expect(decisions.get('denied CatalogTools.browse tools/call handler')).toBe(1);
    // The endpoint's message-level limit counted the three tools/call messages too.
    const endpoint = [...decisions.keys()].find((key) => key.endsWith('tools/call message'));
    expect(endpoint).toBeDefined();
    expect(decisions.get(endpoint!)).toBe(3);
    // The in-memory store is not timed (it decides synchronously) and has no outage.
    expect(metrics.get(STORE_DURATION_METRIC)?.dataPoints ?? []).toHaveLength(0);
    expect(JSON.stringify([...metrics.values()])).not.toContain('metrics-user-7f3a');
  });

  test('a store that does I/O is timed, and the outage gauge reads 0 while it answers', async () => {
    const otel = telemetry();
    providers.push(otel.provider);
    const entries = new Map<string, unknown>();
    const cache: CacheLike = {
      get: <T>(key: string) => Promise.resolve(entries.get(key) as T | undefined),
      set: (key: string, value: unknown) => {
        entries.set(key, value);
        return Promise.resolve();
      },
    };
    const server = await createMcpApp({
      transport: 'http',
      moduleOptions: {
        store: new CacheManagerStore(cache),
        metrics: { meterProvider: otel.provider },
      },
    });
    apps.push(server);
    const client = await connect(server.url!, 'timed-user');
    await client.callTool({ name: 'lookup', arguments: {} });

    const metrics = await otel.collected();
    const durations = metrics.get(STORE_DURATION_METRIC);
    expect(durations?.dataPointType).toBe(DataPointType.HISTOGRAM);
    const evaluate = durations?.dataPoints.find(
      (point) => point.attributes['mcp_rate_limit.store.operation'] === 'evaluate',
    );
    expect((evaluate?.value as { count: number } | undefined)?.count).toBe(1);
    expect(metrics.get(STORE_OUTAGE_METRIC)?.dataPoints.map((point) => point.value)).toEqual([0]);
    expect(
      decisionsOf(metrics.get(DECISIONS_METRIC)).get(
        'allowed CatalogTools.lookup tools/call handler',
      ),
    ).toBe(1);
  });

  test('metrics: false records nothing, even with a provider registered globally', async () => {
    const otel = telemetry();
    providers.push(otel.provider);
    const { metrics } = await import('@opentelemetry/api');
    metrics.setGlobalMeterProvider(otel.provider);
    try {
      const server = await createMcpApp({ transport: 'http', moduleOptions: { metrics: false } });
      apps.push(server);
      const client = await connect(server.url!, 'off-user');
      await client.callTool({ name: 'lookup', arguments: {} });
      expect((await otel.collected()).get(DECISIONS_METRIC)).toBeUndefined();
    } finally {
      metrics.disable();
    }
  });
});

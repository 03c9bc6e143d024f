// Attack review (attack3): a metrics failure must neither admit nor deny a call. A real MCP-Nest
// app, the official MCP SDK client, the real OpenTelemetry SDK whose store-duration histogram
// throws (a broken exporter or view, a bug in an SDK version), a store that does I/O (timed).
import { afterEach, describe, expect, test } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { CacheManagerStore, type CacheLike, type StoreErrorPolicy } from '../../src/index.js';
import { createMcpApp, type McpApp } from '../fixtures/mcp-app.js';

const apps: McpApp[] = [];
const clients: Client[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(apps.splice(0).map((server) => server.app.close()));
});

/** The SDK's meter, except that recording into a histogram throws. */
function providerWithThrowingHistogram(): MeterProvider {
  const provider = new MeterProvider();
  const getMeter = provider.getMeter.bind(provider);
  provider.getMeter = (...args: Parameters<MeterProvider['getMeter']>) => {
    const meter = getMeter(...args);
    const createHistogram = meter.createHistogram.bind(meter);
    meter.createHistogram = (...histogramArgs: Parameters<typeof createHistogram>) => {
      const histogram = createHistogram(...histogramArgs);
      histogram.record = () => {
        throw new Error('metric exporter broke');
      };
      return histogram;
    };
    return meter;
  };
  return provider;
}

function mapCache(): CacheLike {
  const entries = new Map<string, unknown>();
  return {
    get: <T>(key: string) => Promise.resolve(entries.get(key) as T | undefined),
    set: (key: string, value: unknown) => {
      entries.set(key, value);
      return Promise.resolve();
    },
  };
}

async function outcomesOf(policy: StoreErrorPolicy, calls: number): Promise<string[]> {
  const server = await createMcpApp({
    transport: 'http',
    moduleOptions: {
      store: new CacheManagerStore(mapCache()),
      onStoreError: policy,
      metrics: { meterProvider: providerWithThrowingHistogram() },
    },
  });
  apps.push(server);
  const client = new Client({ name: 'metrics-failure', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(server.url!, {
      requestInit: { headers: { authorization: `Bearer user:metrics-${policy}` } },
    }),
  );
  clients.push(client);
  const outcomes: string[] = [];
  for (let call = 0; call < calls; call++) {
    // `lookup`: 2 per minute (its class's limit) and 10 (its own).
    outcomes.push(
      await client.callTool({ name: 'lookup', arguments: {} }).then(
        () => 'allowed',
        (error: { code?: number }) => `denied ${error.code}`,
      ),
    );
  }
  return outcomes;
}

describe('a throwing meter', () => {
  // Found by an attack review: RateLimitMetrics.time (telemetry.ts) recorded the store call's
  // duration inside the promise chain of the store call itself, so a histogram that throws turned
  // every store call that succeeded into a failed one and the outage policy decided every call
  // ('allow': 4 of 2 admitted; 'deny': every call denied). Recording is best-effort now.
  test("with onStoreError 'allow', the limit still holds", async () => {
    expect(await outcomesOf('allow', 4)).toEqual([
      'allowed',
      'allowed',
      'denied -32005',
      'denied -32005',
    ]);
  });

  test("with onStoreError 'deny', calls within the limit are admitted", async () => {
    expect(await outcomesOf('deny', 3)).toEqual(['allowed', 'allowed', 'denied -32005']);
  });
});

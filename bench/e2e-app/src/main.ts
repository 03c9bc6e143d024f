// The server of the end-to-end benchmark: the sample app's setup (MCP-Nest over Streamable HTTP,
// POST /mcp as a Nest controller, the MCP microservice connected with inheritAppConfig), with one
// tool and a limits variant chosen by BENCH_VARIANT:
//   none       no rate limiting at all (the baseline);
//   noop-guard a guard that admits every call, bound on the tool: what Nest costs for any guard;
//   memory     McpRateLimitModule, a fixed window on the tool, in-memory store (the default);
//   memory-metrics  the same, with an OpenTelemetry MeterProvider registered globally (a reader
//              exporting to memory once a minute), so the module records its metrics;
//   redis      the same limit, with the app's cache on @keyv/redis (BENCH_REDIS_URL): the module
//              then uses the Redis store with its atomic scripts;
//   throttler  @nestjs/throttler's ThrottlerGuard on the MCP endpoint, in-memory storage;
//   redis-incr a guard that awaits one Redis INCR per call, bound on the tool (node-redis, one
//              connection): the cheapest round trip any Redis-backed limiter must make.
// Limits are high enough that every call is admitted: the benchmark measures the cost of checking.
// Prints `listening <url>` once it accepts connections.
import 'reflect-metadata';
import KeyvRedis from '@keyv/redis';
import { CacheModule } from '@nestjs/cache-manager';
import {
  Controller,
  Injectable,
  Module,
  UseGuards,
  type CanActivate,
  type DynamicModule,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Payload } from '@nestjs/microservices';
import { ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  McpController,
  McpHttpControllerFor,
  McpStrategy,
  StreamableHttpTransport,
  Tool,
} from '@rekog/mcp-nest';
import { FixedWindowRateLimit, McpRateLimitModule, RateLimit } from 'nestjs-mcp-rate-limit';
import { createClient } from 'redis';
import { z } from 'zod';

type Variant =
  'none' | 'noop-guard' | 'memory' | 'memory-metrics' | 'redis' | 'throttler' | 'redis-incr';
const variant = (process.env.BENCH_VARIANT ?? 'none') as Variant;
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const HIGH = 1_000_000_000;

const transport = new StreamableHttpTransport();
const strategy = new McpStrategy({ name: 'bench', version: '1.0.0', transports: [transport] });

const echoTool = {
  name: 'bench.echo',
  description: 'Echoes the text back.',
  parameters: z.object({ text: z.string().max(1000) }),
};
const echo = (text: string) => ({ content: [{ type: 'text', text }] });

@McpController()
class PlainTools {
  @Tool(echoTool)
  echo(@Payload() { text }: { text: string }) {
    return echo(text);
  }
}

@McpController()
class LimitedTools {
  @Tool(echoTool)
  @RateLimit(new FixedWindowRateLimit({ maxCalls: HIGH, perSeconds: 60 }))
  echo(@Payload() { text }: { text: string }) {
    return echo(text);
  }
}

/** A guard that admits every call: what Nest itself costs per call for a bound guard. */
@Injectable()
class AdmitAll implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

@McpController()
class GuardedTools {
  @Tool(echoTool)
  @UseGuards(AdmitAll)
  echo(@Payload() { text }: { text: string }) {
    return echo(text);
  }
}

/** A guard that awaits one INCR per call: a Redis round trip, with no limiter's logic. */
const incrClient =
  variant === 'redis-incr' ? await createClient({ url: redisUrl }).connect() : undefined;

@Injectable()
class IncrOnce implements CanActivate {
  async canActivate(): Promise<boolean> {
    await incrClient?.incr('bench:incr');
    return true;
  }
}

@McpController()
class IncrGuardedTools {
  @Tool(echoTool)
  @UseGuards(IncrOnce)
  echo(@Payload() { text }: { text: string }) {
    return echo(text);
  }
}

@Controller('mcp')
class McpEndpoint extends McpHttpControllerFor(transport) {}

@Controller('mcp')
@UseGuards(ThrottlerGuard)
class ThrottledMcpEndpoint extends McpHttpControllerFor(transport) {}

@Module({})
class BenchModule {
  static forVariant(which: Variant): DynamicModule {
    switch (which) {
      case 'none':
        return { module: BenchModule, controllers: [McpEndpoint, PlainTools] };
      case 'noop-guard':
        return { module: BenchModule, controllers: [McpEndpoint, GuardedTools] };
      case 'memory':
      case 'memory-metrics':
        return {
          module: BenchModule,
          imports: [McpRateLimitModule.forRoot()],
          controllers: [McpEndpoint, LimitedTools],
        };
      case 'redis':
        return {
          module: BenchModule,
          imports: [
            CacheModule.register({ isGlobal: true, stores: [new KeyvRedis(redisUrl)] }),
            McpRateLimitModule.forRoot(),
          ],
          controllers: [McpEndpoint, LimitedTools],
        };
      case 'throttler':
        return {
          module: BenchModule,
          imports: [ThrottlerModule.forRoot([{ ttl: 60_000, limit: HIGH }])],
          controllers: [ThrottledMcpEndpoint, PlainTools],
        };
      case 'redis-incr':
        return { module: BenchModule, controllers: [McpEndpoint, IncrGuardedTools] };
      default:
        throw new Error(
          `BENCH_VARIANT must be none, noop-guard, memory, memory-metrics, redis, throttler or redis-incr (got ${which})`,
        );
    }
  }
}

if (variant === 'memory-metrics') {
  // As an app with the OpenTelemetry SDK would: a provider registered before the app boots.
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
}

const app = await NestFactory.create(BenchModule.forVariant(variant), { logger: ['error'] });
strategy.setHttpAdapter(app.getHttpAdapter());
app.connectMicroservice({ strategy }, { inheritAppConfig: true });
app.enableShutdownHooks();
await app.startAllMicroservices();
await app.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
const { port } = app.getHttpServer().address() as { port: number };
console.log(`listening http://127.0.0.1:${port}/mcp`);

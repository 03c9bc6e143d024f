// Issue 16 §1: whatever the wiring, a declared limit is enforced, counted once, or the app refuses
// to start naming Class.method, the cause and the fix. Real MCP-Nest apps, the official SDK client.
import 'reflect-metadata';
import { afterEach, describe, expect, test } from '@jest/globals';
import {
  Controller,
  HttpCode,
  Module,
  Post,
  SetMetadata,
  type INestApplication,
  type LoggerService,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { serveMcpNest } from '../fixtures/mcp-nest-server.js';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import {
  McpController,
  McpHttpControllerFor,
  StreamableHttpTransport,
  Tool,
} from '@rekog/mcp-nest';
import {
  SlidingWindowRateLimit,
  McpRateLimitModule,
  RateLimit,
  UseMcpRateLimit,
  type McpRateLimitModuleForRootOptions,
} from '../../src/index.js';

// A sliding window: a fixed window's count starts afresh at each minute, so three calls that straddle
// one (seen once in CI) were all admitted, however the module was wired.
const twoPerMinute = () => new SlidingWindowRateLimit({ maxCalls: 2, perSeconds: 60 });

@McpController()
class LimitedByMethod {
  @Tool({ name: 'method_limited', description: '2 per minute' })
  @RateLimit(twoPerMinute())
  run() {
    return 'ran';
  }
}

@McpController()
@RateLimit(twoPerMinute())
class LimitedByClass {
  @Tool({ name: 'class_limited', description: '2 per minute, from the class' })
  run() {
    return 'ran';
  }
}

@McpController()
@UseMcpRateLimit()
class LimitedAndScoped {
  @Tool({ name: 'scoped_limited', description: '2 per minute, and @UseMcpRateLimit()' })
  @RateLimit(twoPerMinute())
  run() {
    return 'ran';
  }
}

interface Wiring {
  readonly options?: McpRateLimitModuleForRootOptions;
  readonly inheritAppConfig: boolean;
  /** The tools' module, apart from the one importing McpRateLimitModule, when set. */
  readonly featureModule?: boolean;
  readonly logger?: LoggerService;
}

const apps: INestApplication[] = [];
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function serve(wiring: Wiring): Promise<URL> {
  const transport = new StreamableHttpTransport();
  @Controller('mcp')
  class McpEndpoint extends McpHttpControllerFor(transport) {}
  const tools = [LimitedByMethod, LimitedByClass, LimitedAndScoped];
  @Module({ controllers: tools })
  class ToolsModule {}
  const rateLimits =
    wiring.options === undefined
      ? McpRateLimitModule.forRoot()
      : McpRateLimitModule.forRoot(wiring.options);
  @Module({
    imports: wiring.featureModule === true ? [rateLimits, ToolsModule] : [rateLimits],
    controllers: wiring.featureModule === true ? [McpEndpoint] : [McpEndpoint, ...tools],
  })
  class AppModule {}
  const { app, url } = await serveMcpNest(AppModule, transport, 'wiring', {
    logger: wiring.logger,
    inheritAppConfig: wiring.inheritAppConfig,
  });
  apps.push(app);
  return url;
}

/** Three calls of `tool`: what each answered, `ok` or the JSON-RPC error code. */
async function threeCalls(url: URL, tool: string): Promise<(string | number)[]> {
  const client = new Client({ name: 'wiring', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(url));
  clients.push(client);
  const answers: (string | number)[] = [];
  for (let call = 0; call < 3; call++) {
    answers.push(
      await client.callTool({ name: tool, arguments: {} }).then(
        (result) => (result.isError === true ? 'isError' : 'ok'),
        (error: { code?: number }) => error.code ?? 'error',
      ),
    );
  }
  return answers;
}

const TOOLS = ['method_limited', 'class_limited', 'scoped_limited'];

describe('every declared limit is enforced, once, however the module is wired', () => {
  test.each<[string, Wiring]>([
    ['forRoot() alone: no registerGlobally, no @UseMcpRateLimit()', { inheritAppConfig: false }],
    [
      'registerGlobally without inheritAppConfig',
      { options: { registerGlobally: true }, inheritAppConfig: false },
    ],
    // The documented wirings: the global guard and the decorator's both run; the call counts once.
    [
      'registerGlobally with inheritAppConfig',
      { options: { registerGlobally: true }, inheritAppConfig: true },
    ],
    ['forRoot() with inheritAppConfig', { inheritAppConfig: true }],
    [
      'the tools in a feature module that does not import McpRateLimitModule',
      { options: { registerGlobally: true }, inheritAppConfig: true, featureModule: true },
    ],
  ])('%s: limit 2 -> ok, ok, -32005', async (_name, wiring) => {
    const url = await serve(wiring);
    for (const tool of TOOLS) {
      expect([tool, await threeCalls(url, tool)]).toEqual([tool, ['ok', 'ok', -32005]]);
    }
  });

  test('one bootstrap log line says what is enforced', async () => {
    const lines: string[] = [];
    const logger: LoggerService = {
      log: (message: unknown, context?: unknown) => {
        if (context === 'McpRateLimit') lines.push(String(message));
      },
      error: () => undefined,
      warn: () => undefined,
    };
    await serve({ inheritAppConfig: false, logger });
    expect(lines).toEqual([
      'limits on 3 tools, 0 resources, 0 prompts and 0 other handlers; store MemoryStore; message-level limit off',
    ]);
  });
});

describe('a limit that cannot be enforced fails bootstrap, naming Class.method, cause and fix', () => {
  async function bootstrap(controller: Type<unknown>, withModule = true): Promise<void> {
    @Module({
      imports: withModule ? [McpRateLimitModule.forRoot()] : [],
      controllers: [controller],
    })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
    try {
      await app.init();
    } finally {
      await app.close();
    }
  }

  test('an MCP-Nest 1.x tool (MCP metadata, no microservice pattern: called outside Nest)', async () => {
    // What MCP-Nest 1.x's @Tool() writes (1.9.11: SetMetadata('mcp:tool', options), nothing else).
    const LegacyTool = (name: string) => SetMetadata('mcp:tool', { name, description: name });
    class LegacyTools {
      @LegacyTool('search')
      @RateLimit(twoPerMinute())
      search() {
        return 'found';
      }
    }
    @RateLimit(twoPerMinute())
    class LegacyClassLimited {
      @LegacyTool('browse')
      browse() {
        return 'browsed';
      }
    }
    for (const [type, owner] of [
      [LegacyTools, 'LegacyTools.search'],
      [LegacyClassLimited, 'LegacyClassLimited.browse'],
    ] as const) {
      @Module({ imports: [McpRateLimitModule.forRoot()], providers: [type] })
      class AppModule {}
      const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
      await expect(app.init().finally(() => app.close())).rejects.toThrow(
        new RegExp(
          `${owner.replace('.', '\\.')}: this MCP tool has rate limits that cannot be enforced: it is served by MCP-Nest 1\\.x .*Fix: upgrade to @rekog/mcp-nest 2\\.x`,
        ),
      );
    }
  });

  test('@RateLimit() on a method Nest never routes to', async () => {
    @Controller()
    class Helpers {
      @RateLimit(twoPerMinute())
      compute() {
        return 1;
      }
    }
    await expect(bootstrap(Helpers)).rejects.toThrow(
      /Helpers\.compute: @RateLimit\(\) is on a method Nest never routes calls to .*Fix:/,
    );
  });

  test('limits declared but McpRateLimitModule not imported', async () => {
    @Controller('x')
    class Orphan {
      @Post()
      @HttpCode(200)
      @RateLimit(twoPerMinute())
      handle() {
        return 'ok';
      }
    }
    await expect(bootstrap(Orphan, false)).rejects.toThrow(
      /McpRateLimit(Guard|Filter|Interceptor): rate limits are declared but McpRateLimitModule is not imported\. Fix: import McpRateLimitModule\.forRoot\(\)/,
    );
  });
});

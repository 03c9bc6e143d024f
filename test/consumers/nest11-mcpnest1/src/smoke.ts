// The consumer proof of MCP-Nest 1.x (issue 16 §1): a Nest 11 CommonJS app on @rekog/mcp-nest 1.9
// (MCP SDK v1), what many Nest 11 apps still run. MCP-Nest 1.x calls tools directly, outside Nest's
// guards, so no guard can enforce a @RateLimit() there: the app must refuse to start, naming the
// tool's Class.method, the cause and the fix, never serve the tool unlimited.
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { McpModule, McpTransportType, Tool } from '@rekog/mcp-nest';
import {
  FixedWindowRateLimit,
  McpRateLimitModule,
  RateLimit,
  RateLimitConfigError,
} from 'nestjs-mcp-rate-limit';
import { z } from 'zod';

@Injectable()
class LegacyTools {
  @Tool({ name: 'search', description: 'Searches', parameters: z.object({ query: z.string() }) })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
  search({ query }: { query: string }) {
    return { content: [{ type: 'text', text: `found ${query}` }] };
  }
}

@Module({
  imports: [
    McpModule.forRoot({
      name: 'legacy',
      version: '1.0.0',
      transport: McpTransportType.STREAMABLE_HTTP,
    }),
    McpRateLimitModule.forRoot(),
  ],
  providers: [LegacyTools],
})
class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
  let refusal: unknown;
  try {
    await app.listen(0, '127.0.0.1');
  } catch (error) {
    refusal = error;
  } finally {
    await app.close().catch(() => undefined);
  }
  const message = refusal instanceof Error ? refusal.message : String(refusal);
  const named = ['LegacyTools.search', 'MCP-Nest 1.x', 'Fix:'].every((part) =>
    message.includes(part),
  );
  if (!(refusal instanceof RateLimitConfigError) || !named) {
    throw new Error(
      `expected bootstrap to refuse the MCP-Nest 1.x tool with a RateLimitConfigError naming LegacyTools.search, the cause and the fix; got ${refusal === undefined ? 'an app that started' : message}`,
    );
  }
  console.log(`MCP-Nest 1.x tool refused at bootstrap: ${message.slice(0, 120)}...`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

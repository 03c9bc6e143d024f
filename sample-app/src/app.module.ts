import {
  type DynamicModule,
  type MiddlewareConsumer,
  Module,
  type NestModule,
} from '@nestjs/common';
import { CacheModule } from '@nestjs/cache-manager';
import KeyvRedis from '@keyv/redis';
import { FixedWindowRateLimit, McpRateLimitModule } from 'nestjs-mcp-rate-limit';
import { AdminController } from './admin.controller.js';
import { DemoAuthMiddleware } from './demo-auth.middleware.js';
import { DemoController } from './demo.controller.js';
import { InvoicesController } from './invoices.controller.js';
import { McpEndpointController } from './mcp.js';

export interface SampleAppOptions {
  /** Redis for the app's cache and the rate limits (e.g. `redis://127.0.0.1:6379`); unset = memory. */
  readonly redisUrl?: string;
}

@Module({})
export class AppModule implements NestModule {
  static forRoot(options: SampleAppOptions = {}): DynamicModule {
    const redisUrl = options.redisUrl;
    return {
      module: AppModule,
      imports: [
        // With a Redis-backed cache, the rate limiter uses that Redis connection with atomic
        // scripts (exact across instances); without a cache it keeps its state in memory.
        ...(redisUrl === undefined
          ? []
          : [CacheModule.register({ isGlobal: true, stores: [new KeyvRedis(redisUrl)] })]),
        // @RateLimit() and @LimitMcpMessages() bind the guard where they are declared: no
        // registerGlobally needed.
        McpRateLimitModule.forRoot({
          // Every client: 100 MCP messages per minute on the @LimitMcpMessages() endpoint
          // (initialize, server/discover, ping and tasks/* are never counted).
          messageLimit: {
            limits: [new FixedWindowRateLimit({ maxCalls: 100, perSeconds: 60 })],
          },
        }),
      ],
      controllers: [McpEndpointController, DemoController, InvoicesController, AdminController],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(DemoAuthMiddleware).forRoutes(McpEndpointController);
  }
}

import {
  type DynamicModule,
  type MiddlewareConsumer,
  Module,
  type NestModule,
} from '@nestjs/common';
import { CacheModule } from '@nestjs/cache-manager';
import KeyvRedis from '@keyv/redis';
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
      imports:
        redisUrl === undefined
          ? []
          : [CacheModule.register({ isGlobal: true, stores: [new KeyvRedis(redisUrl)] })],
      controllers: [McpEndpointController, DemoController, InvoicesController],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(DemoAuthMiddleware).forRoutes(McpEndpointController);
  }
}

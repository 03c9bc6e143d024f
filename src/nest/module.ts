import {
  ConfigurableModuleBuilder,
  Module,
  type ConfigurableModuleAsyncOptions,
  type DynamicModule,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { McpRateLimitFilter } from './filter.js';
import { McpRateLimitGuard } from './guard.js';
import type { McpRateLimitModuleOptions } from './options.js';
import { McpRateLimitService } from './rate-limit.service.js';
import { MCP_RATE_LIMIT_OPTIONS } from './tokens.js';

/** Options of the module definition itself, accepted by forRoot and forRootAsync alike. */
export interface McpRateLimitModuleExtras {
  /** Make the module's providers visible to every module (default `false`). */
  readonly isGlobal?: boolean;
  /**
   * Register the guard and the filter as global enhancers (`APP_GUARD`, `APP_FILTER`), so every
   * decorated handler is limited without `@UseMcpRateLimit()`. MCP-Nest handlers run in a
   * microservice: connect it with `app.connectMicroservice({ strategy }, { inheritAppConfig: true })`
   * for global enhancers to reach them. Default `false`.
   */
  readonly registerGlobally?: boolean;
}

const { ConfigurableModuleClass } = new ConfigurableModuleBuilder<McpRateLimitModuleOptions>({
  moduleName: 'McpRateLimit',
  optionsInjectionToken: MCP_RATE_LIMIT_OPTIONS,
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createRateLimitOptions')
  .setExtras<McpRateLimitModuleExtras>(
    { isGlobal: false, registerGlobally: false },
    (definition: DynamicModule, extras) => ({
      ...definition,
      global: extras.isGlobal,
      providers: [
        ...(definition.providers ?? []),
        ...(extras.registerGlobally
          ? [
              { provide: APP_GUARD, useExisting: McpRateLimitGuard },
              { provide: APP_FILTER, useExisting: McpRateLimitFilter },
            ]
          : []),
      ],
    }),
  )
  .build();

/** What `McpRateLimitModule.forRoot()` accepts. */
export type McpRateLimitModuleForRootOptions = McpRateLimitModuleOptions & McpRateLimitModuleExtras;
/** What `McpRateLimitModule.forRootAsync()` accepts. */
export type McpRateLimitModuleAsyncOptions = ConfigurableModuleAsyncOptions<
  McpRateLimitModuleOptions,
  'createRateLimitOptions'
> &
  McpRateLimitModuleExtras;

/**
 * Rate limits for NestJS MCP servers. Import it once; decorate handlers with `@RateLimit()`.
 *
 * Store: the `store` option, else the app's own cache (`CACHE_MANAGER` of `@nestjs/cache-manager`)
 * when it has one, else an in-process `MemoryStore`. Every decorated handler is checked at
 * bootstrap: a bad configuration fails startup with a message naming `Class.method`.
 *
 * With MCP-Nest, global enhancers reach the tools only through
 * `app.connectMicroservice({ strategy }, { inheritAppConfig: true })`.
 *
 * @example
 * ```ts
 * @Module({
 *   imports: [
 *     McpRateLimitModule.forRoot({
 *       isGlobal: true,
 *       registerGlobally: true, // guard + filter on every handler
 *       messageLimit: {
 *         limits: [new FixedWindowRateLimit({ maxCalls: 50, perSeconds: 300 })],
 *         excludedMethods: ['initialize', 'ping'],
 *       },
 *     }),
 *     // or: McpRateLimitModule.forRootAsync({ imports: [ConfigModule], inject: [ConfigService],
 *     //       useFactory: (config: ConfigService) => ({ enabled: config.get('RATE_LIMITS') !== 'off' }) })
 *   ],
 *   controllers: [SearchTools],
 * })
 * export class AppModule {}
 * ```
 */
@Module({
  imports: [DiscoveryModule],
  providers: [McpRateLimitService, McpRateLimitGuard, McpRateLimitFilter],
  exports: [McpRateLimitService, McpRateLimitGuard, McpRateLimitFilter],
})
export class McpRateLimitModule extends ConfigurableModuleClass {}

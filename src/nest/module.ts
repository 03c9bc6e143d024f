import {
  ConfigurableModuleBuilder,
  Module,
  type ConfigurableModuleAsyncOptions,
  type DynamicModule,
  type OnModuleInit,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD, DiscoveryModule, DiscoveryService } from '@nestjs/core';
import { markCopy, MODULE_COPY, THIS_COPY } from '../core/package-copy.js';
import { McpRateLimitFilter } from './filter.js';
import { bindsRateLimitGuard, McpRateLimitGlobalGuard } from './global-guard.js';
import { McpRateLimitGuard } from './guard.js';
import { guardOrderWarnings } from './guard-order.js';
import { McpRateLimitInterceptor } from './interceptor.js';
import type { McpRateLimitModuleOptions } from './options.js';
import { McpRateLimitService } from './rate-limit.service.js';
import { inProcessCacheWarning } from './store-checks.js';
import { MCP_RATE_LIMIT_OPTIONS } from './tokens.js';

/** Options of the module definition itself, accepted by forRoot and forRootAsync alike. */
export interface McpRateLimitModuleExtras {
  /** Make the module's providers visible to every module (default `false`). */
  readonly isGlobal?: boolean;
  /**
   * Also register the guard and the filter as global enhancers (`APP_GUARD`, `APP_FILTER`). Not
   * needed for limits: `@RateLimit()` and `@LimitMcpMessages()` bind them where they are
   * declared, and a call is decided once either way, by the guard bound to its handler, after the
   * app's global guards (auth) whatever the module order. Default `false`.
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
              { provide: APP_GUARD, useClass: McpRateLimitGlobalGuard },
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
 * Rate limits for NestJS MCP servers. Import it once, in the root module (a second import in the
 * app fails bootstrap); decorate handlers with `@RateLimit()`.
 *
 * Store: the `store` option, else the app's own cache (`CACHE_MANAGER` of `@nestjs/cache-manager`)
 * when it has one, else an in-process `MemoryStore`. Every decorated handler is checked at
 * bootstrap: a bad configuration fails startup with a message naming `Class.method`, and one log
 * line says what is enforced.
 *
 * The decorators bind the guard, filter and interceptor themselves, so limits hold however
 * MCP-Nest is connected (with or without `inheritAppConfig`), and limited handlers in feature
 * modules need no import of their own. `isGlobal: true` only makes its providers (such as
 * `McpRateLimitService`) injectable in every module.
 *
 * @example
 * ```ts
 * @Module({
 *   imports: [
 *     McpRateLimitModule.forRoot({
 *       isGlobal: true,
 *       // toolDenial: 'result', errorCode: -32005, unidentified: 'deny', refundWhen: ...
 *       messageLimit: {
 *         limits: [new FixedWindowRateLimit({ maxCalls: 50, perSeconds: 300 })],
 *         excludedMethods: ['tools/list'], // initialize, ping, ... are never counted anyway
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
  providers: [
    McpRateLimitService,
    McpRateLimitGuard,
    McpRateLimitFilter,
    McpRateLimitInterceptor,
    // Which copy of the package this module is, for a guard of another copy (service-ref.ts).
    { provide: MODULE_COPY, useValue: THIS_COPY },
  ],
  exports: [McpRateLimitService, McpRateLimitGuard, McpRateLimitFilter, McpRateLimitInterceptor],
})
export class McpRateLimitModule extends ConfigurableModuleClass implements OnModuleInit {
  constructor(
    private readonly service: McpRateLimitService,
    private readonly discovery: DiscoveryService,
  ) {
    super();
  }

  /** The module with these options; every option has a default, so `forRoot()` is enough. */
  static override forRoot(options: McpRateLimitModuleForRootOptions = {}): DynamicModule {
    return super.forRoot(options);
  }

  /**
   * Warns of limited handlers whose own guards run after the rate-limit guard, and makes an
   * McpRateLimitGuard the app registered as a global guard itself leave limited handlers to the
   * guard they bind. Here, not in the service: Nest runs a module's own hook after its providers'
   * (the plans are built), and both need the guard class, which the service's imports must not
   * reach. Every instance of the app exists by now (Nest creates them all before any init hook).
   */
  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const appGuard = isAppGuard(wrapper.token) || wrapper.subtype === 'guard';
      if (appGuard && wrapper.instance instanceof McpRateLimitGuard) {
        wrapper.instance.runsGlobally(bindsRateLimitGuard);
      }
    }
    if (!this.service.enabled) return;
    for (const warning of guardOrderWarnings(this.service.plans)) {
      this.service.logger.warn(warning);
    }
    const storeWarning = inProcessCacheWarning(this.service.store);
    if (storeWarning !== undefined) this.service.logger.warn(storeWarning);
  }
}

/**
 * Whether a provider's token is one Nest gave an `APP_GUARD` registration (`APP_GUARD (UUID: …)`);
 * its `subtype` 'guard' says so too: either is enough, so one of Nest's internals changing alone
 * does not let such a guard decide before the app's auth guard again.
 */
function isAppGuard(token: unknown): boolean {
  return typeof token === 'string' && token.startsWith(`${APP_GUARD} (`);
}

// Two modules of two loaded copies of the package are refused by name, and so is a handler bound
// to the guard of another copy (declarations.ts). Here, where the package's root loads both.
markCopy(McpRateLimitModule);
markCopy(McpRateLimitGuard);

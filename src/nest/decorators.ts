import { applyDecorators, SetMetadata, UseFilters, UseGuards } from '@nestjs/common';
import type { Type } from '@nestjs/common';
import type { McpRateLimiter } from '../core/context.js';
import { ContextualLimit } from './contextual-limit.js';
import type { Limiter } from '../core/engine.js';
import type { McpCall } from '../mcp/call.js';
export { ContextualLimit, limitByContext } from './contextual-limit.js';
export type { LimitByContextOptions } from './contextual-limit.js';
import { McpRateLimitFilter } from './filter.js';
import { McpRateLimitGuard } from './guard.js';
import {
  MCP_MESSAGE_LIMIT_METADATA,
  RATE_LIMITS_METADATA,
  RATE_LIMIT_COST_METADATA,
  SKIP_RATE_LIMIT_METADATA,
} from './tokens.js';

/** What `@RateLimit()` accepts. */
export type RateLimitSpec =
  | Limiter
  /** An injectable class implementing `McpRateLimiter`, resolved through Nest DI once at bootstrap. */
  | Type<McpRateLimiter>
  | ContextualLimit;

/** The per-call cost: a number, or a function of the call's arguments. */
// `any`: the handler's own argument type is what users write in the function.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RateLimitCostSpec = number | ((args: any, call: McpCall) => number);

/**
 * Limits a handler (on a method) or every handler of a class (on a class; in addition to each
 * method's own). Limits are AND-combined; the built-in ones are checked and committed atomically.
 * Without a `namespace`, each handler has its own counters; a shared `namespace` shares them.
 *
 * Accepts built-in limits, objects implementing `McpRateLimiter`, injectable provider classes
 * (resolved through Nest DI once at bootstrap, so they may inject a repository or a Redis client),
 * and {@link limitByContext} choices. The configuration is validated at bootstrap: a bad one fails
 * startup naming `Class.method`.
 *
 * @example
 * ```ts
 * @McpController()
 * @RateLimit(new FixedWindowRateLimit({ maxCalls: 10_000, perSeconds: 86_400 })) // every tool here
 * export class SearchTools {
 *   @Tool({ name: 'search', description: 'Search the catalogue' })
 *   @RateLimit(new SlidingWindowRateLimit({ maxCalls: 120, perSeconds: 60 }), OrgQuotaLimit)
 *   search() { ... }
 * }
 * ```
 */
export function RateLimit(...limiters: RateLimitSpec[]): ClassDecorator & MethodDecorator {
  return (target: object, _key?: string | symbol, descriptor?: PropertyDescriptor): void => {
    const holder = descriptor === undefined ? target : (descriptor.value as object);
    const existing = (Reflect.getMetadata(RATE_LIMITS_METADATA, holder) as RateLimitSpec[]) ?? [];
    // Decorators apply bottom-up; keep the order in which they are written.
    Reflect.defineMetadata(RATE_LIMITS_METADATA, [...limiters, ...existing], holder);
  };
}

/**
 * Exempts a handler from every `@RateLimit()`, its class's included. (The message-level limit of an
 * HTTP endpoint is about the endpoint, not the handler, and still applies.)
 *
 * @example
 * ```ts
 * @Tool({ name: 'health', description: 'Liveness' })
 * @SkipRateLimit()
 * health() { return 'ok'; }
 * ```
 */
export function SkipRateLimit(): MethodDecorator & ClassDecorator {
  return SetMetadata(SKIP_RATE_LIMIT_METADATA, true);
}

/**
 * What one call of this handler costs against its limits (default 1): a number, or a function of
 * the call's arguments (for MCP-Nest tools, the arguments after validation). A function that throws
 * or answers anything but a non-negative finite number fails the call, never admits it for free.
 * A limit's own `cost` option takes precedence for that limit.
 *
 * @example
 * ```ts
 * @Tool({ name: 'export', description: 'Export pages', parameters: z.object({ pages: z.number().int() }) })
 * @RateLimit(new TokenBucketRateLimit({ capacity: 100, refillPerSecond: 1 }))
 * @RateLimitCost((args: { pages: number }) => args.pages)
 * export(args: { pages: number }) { ... }
 * ```
 */
export function RateLimitCost(cost: RateLimitCostSpec): MethodDecorator & ClassDecorator {
  return SetMetadata(RATE_LIMIT_COST_METADATA, { cost });
}

/**
 * Marks an HTTP endpoint that receives MCP JSON-RPC messages: the module's `messageLimit` counts
 * every JSON-RPC request POSTed to it (notifications, responses and `excludedMethods` never count).
 * Put it on the MCP controller (e.g. `extends McpHttpControllerFor(transport)`) or a plain JSON-RPC
 * controller.
 *
 * @example
 * ```ts
 * @Controller('mcp')
 * @LimitMcpMessages()
 * export class McpEndpoint extends McpHttpControllerFor(transport) {}
 * ```
 */
export function LimitMcpMessages(): MethodDecorator & ClassDecorator {
  return SetMetadata(MCP_MESSAGE_LIMIT_METADATA, true);
}

/**
 * Applies the rate-limit guard (decisions, headers) and filter (-32005 errors) to a class or a
 * method, for apps that do not register them globally (`registerGlobally: true`).
 *
 * @example
 * ```ts
 * @McpController()
 * @UseMcpRateLimit()
 * export class Tools { ... }
 * ```
 */
export function UseMcpRateLimit(): MethodDecorator & ClassDecorator {
  return applyDecorators(UseGuards(McpRateLimitGuard), UseFilters(McpRateLimitFilter));
}

import { applyDecorators, SetMetadata, UseFilters, UseGuards } from '@nestjs/common';
import { noteMethodDeclaration } from './declarations.js';
import { McpRateLimitFilter } from './filter.js';
import { McpRateLimitGuard } from './guard.js';
import type { HandlerRateLimitOptions, RateLimitCostSpec, RateLimitSpec } from './options.js';
import {
  MCP_MESSAGE_LIMIT_METADATA,
  RATE_LIMITS_METADATA,
  RATE_LIMIT_COST_METADATA,
  RATE_LIMIT_OPTIONS_METADATA,
  SKIP_RATE_LIMIT_METADATA,
} from './tokens.js';
export { ContextualLimit, limitByContext } from './contextual-limit.js';
export type { LimitByContextOptions } from './contextual-limit.js';

/** The guard and the filter, bound where a limit is declared, so no wiring can drop the limit. */
const enforce = (): ClassDecorator & MethodDecorator =>
  applyDecorators(UseGuards(McpRateLimitGuard), UseFilters(McpRateLimitFilter));

/**
 * Limits a handler (on a method) or every handler of a class (on a class; in addition to each
 * method's own). Limits are AND-combined; the built-in ones are checked and committed atomically.
 * Without a `namespace`, each handler has its own counters; a shared `namespace` shares them.
 *
 * Binds the rate-limit guard and filter itself: the limit holds without `registerGlobally`, without
 * `@UseMcpRateLimit()` and without `inheritAppConfig`, and a call is counted once however many of
 * them also apply. McpRateLimitModule adds its interceptor where a call's end matters (a refund, a
 * quota to report, a multi round-trip answer to record). A handler Nest does not route to (e.g. an MCP-Nest 1.x tool) fails bootstrap.
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
  return (target: object, key?: string | symbol, descriptor?: PropertyDescriptor): void => {
    const holder = descriptor === undefined ? target : (descriptor.value as object);
    const existing = (Reflect.getMetadata(RATE_LIMITS_METADATA, holder) as RateLimitSpec[]) ?? [];
    // Decorators apply bottom-up; keep the order in which they are written.
    Reflect.defineMetadata(RATE_LIMITS_METADATA, [...limiters, ...existing], holder);
    if (existing.length === 0) bindOnce(target, key, descriptor, enforce());
    if (descriptor !== undefined) noteMethodDeclaration(target, key!, holder);
  };
}

/**
 * Per-handler (or per-class) options: how a denied tool call is answered (`toolDenial`) and when
 * an admitted call's quota is given back (`refundWhen`). Each overrides the module-wide option; on
 * a method, each field it sets overrides its class's.
 *
 * @example
 * ```ts
 * @Tool({ name: 'lookup', description: 'Look something up' })
 * @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 10 }))
 * @RateLimitOptions({ toolDenial: 'result', refundWhen: (outcome) => outcome.failed })
 * lookup() { ... }
 * ```
 */
export function RateLimitOptions(
  options: HandlerRateLimitOptions,
): ClassDecorator & MethodDecorator {
  return SetMetadata(RATE_LIMIT_OPTIONS_METADATA, options);
}

/**
 * `decorator`, noting the method it declares something on, so that bootstrap refuses the app when a
 * decorator applied later replaced that method without its metadata (declarations.ts).
 */
function noted(decorator: ClassDecorator & MethodDecorator): ClassDecorator & MethodDecorator {
  return (target: object, key?: string | symbol, descriptor?: PropertyDescriptor): void => {
    if (descriptor === undefined) {
      (decorator as ClassDecorator)(target as never);
      return;
    }
    decorator(target, key!, descriptor);
    noteMethodDeclaration(target, key!, descriptor.value);
  };
}

/** Applies `decorator` to a class or method unless a rate-limit decorator already did. */
function bindOnce(
  target: object,
  key: string | symbol | undefined,
  descriptor: PropertyDescriptor | undefined,
  decorator: ClassDecorator & MethodDecorator,
): void {
  if (descriptor === undefined) (decorator as ClassDecorator)(target as never);
  else decorator(target, key!, descriptor);
}

/**
 * Exempts a handler from its class's `@RateLimit()` (on a method without limits of its own: from
 * every limit). On a class, exempts its handlers from the class-level limits. Either way a
 * method's own `@RateLimit()` still holds: a limit declared on a method is never dropped. The nearest
 * declaration wins: along a class chain, the nearest class that declares `@RateLimit()` or
 * `@SkipRateLimit()` decides. (The message-level limit of an HTTP endpoint is about the endpoint,
 * not the handler, and still applies.)
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
  return noted(SetMetadata(RATE_LIMIT_COST_METADATA, { cost }));
}

/**
 * Marks an HTTP endpoint that receives MCP JSON-RPC messages: the module's `messageLimit` counts
 * every JSON-RPC request POSTed to it (notifications, responses, the protocol's housekeeping and
 * `excludedMethods` never count). Put it on the MCP controller (e.g.
 * `extends McpHttpControllerFor(transport)`) or a plain JSON-RPC controller. Binds the rate-limit
 * guard and filter itself.
 *
 * @example
 * ```ts
 * @Controller('mcp')
 * @LimitMcpMessages()
 * export class McpEndpoint extends McpHttpControllerFor(transport) {}
 * ```
 */
export function LimitMcpMessages(): MethodDecorator & ClassDecorator {
  return noted(applyDecorators(SetMetadata(MCP_MESSAGE_LIMIT_METADATA, true), enforce()));
}

/**
 * Applies the rate-limit guard (decisions, headers) and filter (denials) to a class or a method.
 * `@RateLimit()` and `@LimitMcpMessages()` already do; this remains for apps that used it, and
 * counts nothing twice.
 *
 * @example
 * ```ts
 * @McpController()
 * @UseMcpRateLimit()
 * export class Tools { ... }
 * ```
 */
export function UseMcpRateLimit(): MethodDecorator & ClassDecorator {
  return enforce();
}

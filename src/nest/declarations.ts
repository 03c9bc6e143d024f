import { RateLimitConfigError } from '../core/limits.js';
import {
  MCP_RATE_LIMIT_OPTIONS,
  RATE_LIMITS_METADATA,
  SKIP_RATE_LIMIT_METADATA,
} from './tokens.js';

/** A class or a method, as Nest hands them to guards (`getClass()`, `getHandler()`). */
type Named = object & { readonly name: string };

/** One method of a class of the app (bootstrap-check.ts's `AppMethod`). */
interface Method {
  readonly type: Named;
  readonly methodName: string;
  readonly handler: Named;
}

/**
 * Which of a handler's `@RateLimit()` declarations hold: the nearest declaration wins, as with
 * Nest's own method-over-class metadata. A method's `@SkipRateLimit()` exempts it from everything;
 * its own `@RateLimit()` holds whatever its class says. The class-level limits hold unless the
 * nearest class of the chain that declares `@RateLimit()` or `@SkipRateLimit()` declares the skip:
 * a subclass's own limit is not switched off by a base class made for unlimited endpoints.
 */
export function limitsThatApply(
  type: Named,
  handler: Named,
): { readonly ofClass: boolean; readonly ofMethod: boolean } {
  if (Reflect.getMetadata(SKIP_RATE_LIMIT_METADATA, handler) === true) {
    return { ofClass: false, ofMethod: false };
  }
  return { ofClass: !classSkips(type), ofMethod: true };
}

function classSkips(type: Named): boolean {
  for (let at: unknown = type; typeof at === 'function'; at = Object.getPrototypeOf(at)) {
    if (Reflect.getOwnMetadata(SKIP_RATE_LIMIT_METADATA, at) === true) return true;
    if (Reflect.hasOwnMetadata(RATE_LIMITS_METADATA, at)) return false;
  }
  return false;
}

/** Whether a `@RateLimit()` applies to this method (on it or its class, and not skipped). */
export function declaresLimits({ type, handler }: Pick<Method, 'type' | 'handler'>): boolean {
  const applies = limitsThatApply(type, handler);
  return (
    (applies.ofMethod && Reflect.hasMetadata(RATE_LIMITS_METADATA, handler)) ||
    (applies.ofClass && Reflect.hasMetadata(RATE_LIMITS_METADATA, type))
  );
}

/** A class or module as an error message names it. */
const nameOf = (module: { readonly metatype?: { readonly name?: string } }) =>
  module.metatype?.name ?? 'an anonymous module';

/** What bootstrap-check reads of Nest's `DiscoveryService` and its modules for the check below. */
interface ProviderWrapper {
  readonly token: unknown;
  readonly host?: NestModule;
}
interface NestModule {
  readonly metatype?: { readonly name?: string };
  readonly imports: Set<NestModule>;
}

/**
 * Refuses a second McpRateLimitModule in one app (two `forRoot()` / `forRootAsync()` imports):
 * each would have its own options and store, and the limits of a feature module's controllers
 * would take the nearest one, e.g. the default in-process store instead of the Redis store the root
 * configured, so that instances sharing Redis would each grant the full quota.
 */
export function refuseSecondModule(providers: readonly ProviderWrapper[]): void {
  const instances = new Set<NestModule>();
  const modules = new Set<NestModule>();
  for (const wrapper of providers) {
    if (wrapper.host === undefined) continue;
    modules.add(wrapper.host);
    if (wrapper.token === MCP_RATE_LIMIT_OPTIONS) instances.add(wrapper.host);
  }
  if (instances.size < 2) return;
  const importers = [...instances].map((instance) => {
    const by = [...modules].filter((module) => module.imports.has(instance)).map(nameOf);
    return by.length === 0 ? 'by a module' : `by ${by.join(' and ')}`;
  });
  throw new RateLimitConfigError(
    `McpRateLimitModule is imported ${instances.size} times (forRoot() or forRootAsync(), ${importers.join(' and ')}): each import has its own options and store, and the limits of a module's controllers would use the nearest one instead of the app's configuration. Fix: import McpRateLimitModule.forRoot() once, in the root module; the limits of every module use it (isGlobal: true also lets feature modules inject McpRateLimitService)`,
  );
}

import type { ExecutionContext } from '@nestjs/common';
import { RateLimitConfigError } from '../core/limits.js';
import {
  copyOf,
  otherCopyOf,
  THIS_COPY,
  twoCopiesError,
  TWO_COPIES,
  type PackageCopy,
} from '../core/package-copy.js';
import {
  MCP_MESSAGE_LIMIT_METADATA,
  MCP_RATE_LIMIT_OPTIONS,
  NEST_GUARDS,
  NEST_MESSAGE_PATTERN,
  NEST_ROUTE_PATH,
  RATE_LIMITS_METADATA,
  RATE_LIMIT_COST_METADATA,
  SKIP_RATE_LIMIT_METADATA,
} from './tokens.js';

/**
 * The methods our method decorators were applied to, by the prototype that held them then: the
 * function each decorated, under each name. A decorator applied after ours (written above it) may
 * replace the method with a wrapper (tracing, timing, transactions); one that keeps none of the
 * method's metadata takes the declaration with it, while the route or tool decorator above declares
 * the wrapper, which Nest then serves unlimited. Bootstrap compares (see
 * {@link refuseLostDeclarations}).
 */
const decoratedMethods = new WeakMap<object, Map<string | symbol, Set<object>>>();

/** The rate-limit metadata a method decorator of ours writes, with the decorator that writes it. */
const METHOD_DECLARATIONS: readonly (readonly [key: string, decorator: string])[] = [
  [RATE_LIMITS_METADATA, '@RateLimit()'],
  [RATE_LIMIT_COST_METADATA, '@RateLimitCost()'],
  [MCP_MESSAGE_LIMIT_METADATA, '@LimitMcpMessages()'],
];

/** Notes that a decorator of ours declared something on `prototype[key]`, the function `method`. */
export function noteMethodDeclaration(
  prototype: object,
  key: string | symbol,
  method: unknown,
): void {
  if (typeof method !== 'function') return;
  let methods = decoratedMethods.get(prototype);
  if (methods === undefined) decoratedMethods.set(prototype, (methods = new Map()));
  let functions = methods.get(key);
  if (functions === undefined) methods.set(key, (functions = new Set()));
  functions.add(method);
}

/**
 * Whether `current` still carries what a decorator of ours declared (as `metadata`) on
 * `decorated`: the same declaration, and every limit `@RateLimit()` put there (a second
 * `@RateLimit()` written above the wrapper declares its own limits, not the lost ones).
 */
function keeps(metadata: string, decorated: object, current: object): boolean {
  const declared: unknown = Reflect.getOwnMetadata(metadata, decorated);
  if (declared === undefined) return true;
  const kept: unknown = Reflect.getOwnMetadata(metadata, current);
  if (kept === undefined) return false;
  if (!Array.isArray(declared)) return true;
  return Array.isArray(kept) && declared.every((spec: unknown) => kept.includes(spec));
}

/**
 * Refuses a class of the app (or a class it extends) whose method was replaced, after a rate-limit
 * decorator of ours was applied to it, by a function without that decorator's metadata: the limit,
 * cost or message count declared there would never be enforced, silently. A wrapper that copies
 * the method's metadata keeps the declaration, and passes.
 */
export function refuseLostDeclarations(types: Iterable<Named>): void {
  for (const type of types) {
    for (let at: unknown = type; typeof at === 'function'; at = Object.getPrototypeOf(at)) {
      const prototype = (at as { prototype?: unknown }).prototype;
      if (prototype === null || typeof prototype !== 'object') continue;
      for (const [key, functions] of decoratedMethods.get(prototype) ?? []) {
        const current: unknown = Object.getOwnPropertyDescriptor(prototype, key)?.value;
        if (typeof current !== 'function') continue;
        for (const decorated of functions) {
          if (decorated === current) continue;
          const lost = METHOD_DECLARATIONS.find(
            ([metadata]) => !keeps(metadata, decorated, current),
          );
          if (lost === undefined) continue;
          const decorator = lost[1];
          throw new RateLimitConfigError(
            `${(at as Named).name}.${String(key)}: ${decorator} was applied to a function that a decorator applied after it replaced without its metadata (a wrapper written above ${decorator}), so what it declares would never be enforced: Nest serves the wrapper. Fix: write ${decorator} above that decorator, so that it decorates the wrapper, or make that decorator copy the method's metadata (Reflect.getOwnMetadataKeys) to the function it returns`,
          );
        }
      }
    }
  }
}

/** A class or a method, as Nest hands them to guards (`getClass()`, `getHandler()`). */
type Named = object & { readonly name: string };

/** One method of a class of the app (bootstrap-check.ts's `AppMethod`). */
interface Method {
  readonly type: Named;
  readonly methodName: string;
  readonly handler: Named;
}

/**
 * Whether the class-level `@RateLimit()` declarations hold for this handler (its own always do):
 * the nearest declaration wins, as with Nest's own method-over-class metadata. A limit
 * declared on the method is never dropped, not even by a `@SkipRateLimit()` beside it, which
 * exempts the method from its class's limits (written together, they give the method a quota of
 * its own instead of the class's). The class-level limits hold unless the method skips them or
 * the nearest class of the chain that declares `@RateLimit()` or `@SkipRateLimit()` declares the
 * skip: a subclass's own limit is not switched off by a base class made for unlimited endpoints.
 */
export function classLimitsApply(type: Named, handler: Named): boolean {
  if (Reflect.getMetadata(SKIP_RATE_LIMIT_METADATA, handler) === true) return false;
  return !classSkips(type);
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
  return (
    Reflect.hasMetadata(RATE_LIMITS_METADATA, handler) ||
    (classLimitsApply(type, handler) && Reflect.hasMetadata(RATE_LIMITS_METADATA, type))
  );
}

const isHttpRoute = (handler: Named) => Reflect.hasMetadata(NEST_ROUTE_PATH, handler);
const isPattern = (handler: Named) => Reflect.hasMetadata(NEST_MESSAGE_PATTERN, handler);

/**
 * Refuses class-level declarations that no guard can enforce, naming the class or `Class.method`
 * and the fix: a class-level `@RateLimit()` on a class none of whose methods Nest routes calls to
 * (a GraphQL resolver, a WebSocket gateway: Nest calls them in contexts this library does not
 * decide), and `@LimitMcpMessages()` anywhere but on HTTP routes (it counts the JSON-RPC messages
 * POSTed to an endpoint; an MCP-Nest tool or a microservice handler receives none).
 */
export function refuseUnenforceableDeclarations(methods: Iterable<Method>): void {
  const routedClasses = new Set<Named>();
  const httpClasses = new Set<Named>();
  const classes = new Set<Named>();
  for (const { type, methodName, handler } of methods) {
    classes.add(type);
    if (isHttpRoute(handler)) httpClasses.add(type);
    if (isHttpRoute(handler) || isPattern(handler)) routedClasses.add(type);
    const owner = `${type.name}.${methodName}`;
    if (
      Reflect.getMetadata(MCP_MESSAGE_LIMIT_METADATA, handler) === true &&
      !isHttpRoute(handler)
    ) {
      throw notAnEndpoint(`${owner}: @LimitMcpMessages() is on a method that is not an HTTP route`);
    }
    if (Reflect.getMetadata(MCP_MESSAGE_LIMIT_METADATA, type) === true && isPattern(handler)) {
      throw notAnEndpoint(
        `${owner}: @LimitMcpMessages() on its class applies to this handler, which is not an HTTP route (an MCP-Nest tool, resource or prompt, or a microservice pattern)`,
      );
    }
  }
  for (const type of classes) {
    if (Reflect.getMetadata(MCP_MESSAGE_LIMIT_METADATA, type) === true && !httpClasses.has(type)) {
      throw notAnEndpoint(`${type.name}: @LimitMcpMessages() is on a class with no HTTP route`);
    }
    const classLimited = Reflect.hasMetadata(RATE_LIMITS_METADATA, type) && !classSkips(type);
    if (classLimited && !routedClasses.has(type)) {
      throw new RateLimitConfigError(
        `${type.name}: @RateLimit() is on a class none of whose methods Nest routes calls to (no HTTP route and no microservice pattern), so no guard of this library can enforce it; GraphQL resolvers and WebSocket gateways are called in contexts it does not decide. Fix: limit a controller's routes or MCP-Nest 2.x tools, resources or prompts, or limit in code with createRateLimiter()`,
      );
    }
  }
}

/**
 * Refuses a handler whose rate-limit guard comes from another loaded copy of the package (its
 * decorators were imported from the other copy, package-copy.ts): that guard finds no module of its
 * own copy, and this copy's module does not decide for it.
 */
export function refuseGuardsOfOtherCopies(methods: Iterable<Method>): void {
  for (const { type, methodName, handler } of methods) {
    for (const guard of [...guardsOf(type), ...guardsOf(handler)]) {
      const other = copyOfGuard(guard);
      if (other === undefined || other === THIS_COPY) continue;
      throw twoCopiesError(
        `${type.name}.${methodName}: the McpRateLimitGuard its @RateLimit(), @LimitMcpMessages() or @UseMcpRateLimit() binds`,
        other,
        THIS_COPY,
      );
    }
  }
}

/** `Class.method` of each handler that binds a guard of `copy` (on it or its class). */
export function handlersBindingGuardsOf(methods: Iterable<Method>, copy: PackageCopy): string[] {
  const owners: string[] = [];
  for (const { type, methodName, handler } of methods) {
    const guards = [...guardsOf(type), ...guardsOf(handler)];
    if (guards.some((guard) => copyOfGuard(guard) === copy))
      owners.push(`${type.name}.${methodName}`);
  }
  return owners;
}

/** The guards bound to a class or method (`@UseGuards()`, our decorators), inherited included. */
function guardsOf(target: object): readonly unknown[] {
  return (Reflect.getMetadata(NEST_GUARDS, target) as readonly unknown[] | undefined) ?? [];
}

/** The copy of the package a bound guard (its class, or an instance) comes from, if any. */
function copyOfGuard(guard: unknown): PackageCopy | undefined {
  return copyOf(typeof guard === 'object' && guard !== null ? guard.constructor : guard);
}

function notAnEndpoint(what: string): RateLimitConfigError {
  return new RateLimitConfigError(
    `${what}, so it would limit nothing: the message-level limit counts the MCP JSON-RPC requests POSTed to an HTTP endpoint. Fix: put @LimitMcpMessages() on the MCP endpoint's controller (e.g. the class that extends McpHttpControllerFor(transport)), and @RateLimit() on tools`,
  );
}

/**
 * The guard's answer in an execution context it cannot decide (GraphQL, WebSocket, ...): `true`
 * for a handler that declares no limits; for one that does, an error naming it, so that a limit
 * believed to hold never lets calls through unchecked (fail closed).
 */
export function passOtherContext(context: ExecutionContext, type: string): true {
  const method = { type: context.getClass(), handler: context.getHandler() };
  const messageLimited =
    Reflect.getMetadata(MCP_MESSAGE_LIMIT_METADATA, method.handler) === true ||
    Reflect.getMetadata(MCP_MESSAGE_LIMIT_METADATA, method.type) === true;
  if (!declaresLimits(method) && !messageLimited) return true;
  throw new RateLimitConfigError(
    `${method.type.name}.${method.handler.name}: rate limits are declared on this handler, but Nest calls it in the '${type}' context, where this library cannot enforce them (it decides HTTP routes and microservice patterns: MCP-Nest tools, resources and prompts). The call is refused rather than let through unlimited. Fix: remove @RateLimit() from this handler and its class, or limit in code with createRateLimiter()`,
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
  const other = [...instances].map((instance) => otherCopyOf(instance.metatype)).find(Boolean);
  if (other !== undefined) {
    throw new RateLimitConfigError(
      `McpRateLimitModule is imported from two copies of nestjs-mcp-rate-limit (${other.location} and ${THIS_COPY.location}). ${TWO_COPIES}`,
    );
  }
  const importers = [...instances].map((instance) => {
    const by = [...modules].filter((module) => module.imports.has(instance)).map(nameOf);
    return by.length === 0 ? 'by a module' : `by ${by.join(' and ')}`;
  });
  throw new RateLimitConfigError(
    `McpRateLimitModule is imported ${instances.size} times (forRoot() or forRootAsync(), ${importers.join(' and ')}): each import has its own options and store, and the limits of a module's controllers would use the nearest one instead of the app's configuration. Fix: import McpRateLimitModule.forRoot() once, in the root module; the limits of every module use it (isGlobal: true also lets feature modules inject McpRateLimitService)`,
  );
}

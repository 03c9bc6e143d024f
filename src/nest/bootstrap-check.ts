import type { Type } from '@nestjs/common';
import type { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { describeValue, isProtocolLimiter, type RateLimitContext } from '../core/context.js';
import { LimitSet, type Limiter } from '../core/engine.js';
import { BuiltInRateLimit, RateLimitConfigError } from '../core/limits.js';
import type { McpCall } from '../mcp/call.js';
import { ContextualLimit } from './contextual-limit.js';
import type { RateLimitCostSpec } from './decorators.js';
import {
  MCP_MESSAGE_LIMIT_METADATA,
  RATE_LIMITS_METADATA,
  RATE_LIMIT_COST_METADATA,
  SKIP_RATE_LIMIT_METADATA,
} from './tokens.js';

/** Turns an injectable limiter class into its instance (through Nest DI). */
export type ProviderResolver = (type: Type<unknown>) => Promise<unknown>;

/** A class or a method, as Nest hands them to guards (`getClass()`, `getHandler()`). */
export type NamedFunction = object & { readonly name: string };

/** Most limit combinations one handler may have through `limitByContext` choices. */
const MAX_COMBINATIONS = 256;

/**
 * Everything the guard needs about one handler, built and validated once at bootstrap:
 * its limits (one `LimitSet`, or one per combination of `limitByContext` choices), its cost, and
 * whether its endpoint counts MCP messages.
 */
export class HandlerPlan {
  constructor(
    /** `Class.method`, named in errors and events. */
    readonly owner: string,
    /** Every set of this handler, by the names of its choices (`''` without choices). */
    private readonly sets: ReadonlyMap<string, LimitSet>,
    private readonly contextual: readonly ContextualLimit[],
    private readonly cost: RateLimitCostSpec | undefined,
    /** Whether the handler has limits to check (false when skipped or undecorated). */
    readonly limited: boolean,
    /** Whether `@LimitMcpMessages()` applies. */
    readonly messageLimited: boolean,
  ) {
    this.unconditionalSet = contextual.length === 0 ? sets.get('') : undefined;
  }

  /** The set of a handler without `limitByContext` choices: read per call, not looked up. */
  private readonly unconditionalSet: LimitSet | undefined;

  /** The call's cost: validated, so a bad cost function fails the call instead of admitting it. */
  costOf(call: McpCall): number {
    const spec = this.cost;
    if (spec === undefined) return 1;
    const cost = typeof spec === 'number' ? spec : spec(call.args, call);
    if (typeof cost !== 'number' || !Number.isFinite(cost) || cost < 0) {
      throw new RateLimitConfigError(
        `${this.owner}: @RateLimitCost() must give a non-negative finite number (got ${String(cost)})`,
      );
    }
    return cost;
  }

  /** The limits of this call: with `limitByContext` choices, the set of the chosen ones. */
  setFor(context: RateLimitContext): LimitSet {
    if (this.unconditionalSet !== undefined) return this.unconditionalSet;
    const names = this.contextual.map((choice) => chooseName(choice, context));
    return this.sets.get(names.join('\u0000'))!;
  }
}

function chooseName(choice: ContextualLimit, context: RateLimitContext): string {
  const fallback = choice.fallback ?? Object.keys(choice.choices)[0];
  try {
    const name = choice.select(context);
    return typeof name === 'string' && Object.prototype.hasOwnProperty.call(choice.choices, name)
      ? name
      : fallback;
  } catch {
    return fallback;
  }
}

/**
 * Scans every controller and provider for rate-limit decorators and builds each handler's plan.
 * Throws `RateLimitConfigError` naming `Class.method` and the bad field at the first bad one, so a
 * misconfiguration fails application bootstrap instead of the first request.
 */
export async function buildHandlerPlans(
  discovery: DiscoveryService,
  scanner: MetadataScanner,
  resolveProvider: ProviderResolver,
  messageLimitConfigured: boolean,
): Promise<Map<NamedFunction, Map<NamedFunction, HandlerPlan | null>>> {
  // null: scanned, and nothing to do.
  const plans = new Map<NamedFunction, Map<NamedFunction, HandlerPlan | null>>();
  const classes = new Set<Type<unknown>>();
  for (const wrapper of [...discovery.getControllers(), ...discovery.getProviders()]) {
    const metatype = wrapper.metatype as Type<unknown> | undefined | null;
    if (typeof metatype === 'function' && metatype.prototype !== undefined) classes.add(metatype);
  }
  for (const type of classes) {
    for (const methodName of scanner.getAllMethodNames(type.prototype)) {
      const handler = (type.prototype as Record<string, unknown>)[methodName];
      if (typeof handler !== 'function') continue;
      const plan = await planHandler(
        type,
        methodName,
        handler,
        resolveProvider,
        messageLimitConfigured,
      );
      let byHandler = plans.get(type);
      if (byHandler === undefined) plans.set(type, (byHandler = new Map()));
      byHandler.set(handler, plan ?? null);
    }
  }
  return plans;
}

/** The plan of one handler, or undefined when no rate-limit decorator concerns it. */
async function planHandler(
  type: NamedFunction,
  methodName: string,
  handler: NamedFunction,
  resolveProvider: ProviderResolver,
  messageLimitConfigured: boolean,
): Promise<HandlerPlan | undefined> {
  const owner = `${type.name}.${methodName}`;
  const classSpecs = Reflect.getMetadata(RATE_LIMITS_METADATA, type) as unknown;
  const methodSpecs = Reflect.getMetadata(RATE_LIMITS_METADATA, handler) as unknown;
  const skip =
    Reflect.getMetadata(SKIP_RATE_LIMIT_METADATA, handler) === true ||
    Reflect.getMetadata(SKIP_RATE_LIMIT_METADATA, type) === true;
  const costHolder = (Reflect.getMetadata(RATE_LIMIT_COST_METADATA, handler) ??
    Reflect.getMetadata(RATE_LIMIT_COST_METADATA, type)) as { cost: unknown } | undefined;
  const messageLimited =
    Reflect.getMetadata(MCP_MESSAGE_LIMIT_METADATA, handler) === true ||
    Reflect.getMetadata(MCP_MESSAGE_LIMIT_METADATA, type) === true;
  // Only the handlers Nest routes to (HTTP routes, microservice patterns) are MCP handlers; other
  // methods of a decorated class inherit its class-level metadata but are never guarded.
  const isRoute =
    Reflect.hasMetadata('path', handler) ||
    Reflect.hasMetadata('microservices:pattern', handler) ||
    methodSpecs !== undefined;
  if (!isRoute) return undefined;
  if (
    classSpecs === undefined &&
    methodSpecs === undefined &&
    costHolder === undefined &&
    !messageLimited
  ) {
    return undefined;
  }

  if (messageLimited && !messageLimitConfigured) {
    throw new RateLimitConfigError(
      `${owner}: @LimitMcpMessages() is used but McpRateLimitModule has no "messageLimit" option`,
    );
  }
  const specs = [...asSpecList(classSpecs), ...asSpecList(methodSpecs)];
  if (methodSpecs !== undefined && asSpecList(methodSpecs).length === 0) {
    throw new RateLimitConfigError(`${owner}: @RateLimit() needs at least one limit`);
  }
  const cost = costHolder === undefined ? undefined : checkCostSpec(owner, costHolder.cost);

  const fixed: Limiter[] = [];
  const contextual: ContextualLimit[] = [];
  for (const [index, spec] of specs.entries()) {
    if (spec instanceof ContextualLimit) {
      contextual.push(await resolveContextual(owner, index, spec, resolveProvider));
    } else {
      fixed.push(await resolveLimiter(owner, `limit #${index + 1}`, spec, resolveProvider));
    }
  }

  const scope = owner;
  const sets = new Map<string, LimitSet>();
  if (contextual.length === 0) {
    sets.set('', new LimitSet(fixed, scope, owner));
  } else {
    let combinations: { names: string[]; limiters: Limiter[] }[] = [{ names: [], limiters: [] }];
    for (const choice of contextual) {
      const next: typeof combinations = [];
      for (const combination of combinations) {
        for (const [name, limiters] of Object.entries(choice.choices)) {
          next.push({
            names: [...combination.names, name],
            limiters: [...combination.limiters, ...(limiters as Limiter[])],
          });
        }
      }
      combinations = next;
      if (combinations.length > MAX_COMBINATIONS) {
        throw new RateLimitConfigError(
          `${owner}: limitByContext() choices combine into more than ${MAX_COMBINATIONS} limit sets`,
        );
      }
    }
    for (const { names, limiters } of combinations) {
      sets.set(names.join('\u0000'), new LimitSet([...fixed, ...limiters], scope, owner));
    }
  }
  const limited = !skip && specs.length > 0;
  if (!limited && !messageLimited) return undefined;
  return new HandlerPlan(owner, sets, contextual, cost, limited, messageLimited);
}

function asSpecList(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

function checkCostSpec(owner: string, cost: unknown): RateLimitCostSpec {
  if (typeof cost === 'function') return cost as RateLimitCostSpec;
  if (typeof cost === 'number' && Number.isFinite(cost) && cost >= 0) return cost;
  throw new RateLimitConfigError(
    `${owner}: @RateLimitCost() "cost" must be a non-negative finite number or a function of the call's arguments (got ${describeValue(cost)})`,
  );
}

/** A built-in limit, a protocol object, or an injectable class resolved to its instance. */
async function resolveLimiter(
  owner: string,
  where: string,
  spec: unknown,
  resolveProvider: ProviderResolver,
): Promise<Limiter> {
  if (spec instanceof BuiltInRateLimit) return spec;
  if (typeof spec === 'function' && !isProtocolLimiter(spec)) {
    let instance: unknown;
    try {
      instance = await resolveProvider(spec as Type<unknown>);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new RateLimitConfigError(
        `${owner}: ${where} (${spec.name || 'anonymous class'}) could not be resolved through Nest DI: ${reason}`,
      );
    }
    if (!isProtocolLimiter(instance)) {
      throw new RateLimitConfigError(
        `${owner}: ${where} (${spec.name || 'anonymous class'}) must implement consume(context)`,
      );
    }
    return instance;
  }
  if (isProtocolLimiter(spec)) return spec;
  throw new RateLimitConfigError(
    `${owner}: ${where} must be a built-in limit, an object with consume(context), or an injectable limiter class (got ${describeValue(spec)})`,
  );
}

async function resolveContextual(
  owner: string,
  index: number,
  spec: ContextualLimit,
  resolveProvider: ProviderResolver,
): Promise<ContextualLimit> {
  const where = `limit #${index + 1} (limitByContext)`;
  if (typeof spec.select !== 'function') {
    throw new RateLimitConfigError(
      `${owner}: ${where}: "select" must be a function (context) => name`,
    );
  }
  if (spec.choices === null || typeof spec.choices !== 'object') {
    throw new RateLimitConfigError(
      `${owner}: ${where}: "limits" must be an object of named limits`,
    );
  }
  const names = Object.keys(spec.choices);
  if (names.length === 0) {
    throw new RateLimitConfigError(`${owner}: ${where}: "limits" must name at least one choice`);
  }
  if (spec.fallback !== undefined && !names.includes(spec.fallback)) {
    throw new RateLimitConfigError(
      `${owner}: ${where}: "fallback" must be one of ${names.join(', ')} (got ${describeValue(spec.fallback)})`,
    );
  }
  const resolved: Record<string, Limiter[]> = {};
  for (const name of names) {
    const value = spec.choices[name];
    const list = Array.isArray(value) ? value : [value];
    if (list.length === 0) {
      throw new RateLimitConfigError(`${owner}: ${where}: "limits.${name}" must not be empty`);
    }
    resolved[name] = [];
    for (const [position, limiter] of list.entries()) {
      resolved[name].push(
        await resolveLimiter(
          owner,
          `${where} "limits.${name}"[${position}]`,
          limiter,
          resolveProvider,
        ),
      );
    }
  }
  return new ContextualLimit(resolved, spec.select, spec.fallback);
}

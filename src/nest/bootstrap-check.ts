import type { Type } from '@nestjs/common';
import type { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { describeValue, isProtocolLimiter } from '../core/context.js';
import { LimitSet, type Limiter } from '../core/engine.js';
import { BuiltInRateLimit, RateLimitConfigError } from '../core/limits.js';
import { otherCopyOf, THIS_COPY, twoCopiesError } from '../core/package-copy.js';
import { checkedChoiceNames, ContextualLimit } from './contextual-limit.js';
import {
  classLimitsApply,
  refuseGuardsOfOtherCopies,
  refuseLostDeclarations,
  refuseSecondModule,
  refuseUnenforceableDeclarations,
} from './declarations.js';
import { followsCalls, handlerOptionsOf, type FollowUpDefaults } from './follow-ups.js';
import { HandlerPlan, type HandlerKind } from './handler-plan.js';
import type { HandlerRateLimitOptions, RateLimitCostSpec, ToolDenial } from './options.js';
import type { RateLimitMetrics } from './telemetry.js';
import {
  MCP_MESSAGE_LIMIT_METADATA,
  MCP_NEST_PROMPT,
  MCP_NEST_RESOURCE,
  MCP_NEST_RESOURCE_TEMPLATE,
  MCP_NEST_TOOL,
  NEST_MESSAGE_PATTERN,
  NEST_ROUTE_PATH,
  RATE_LIMITS_METADATA,
  RATE_LIMIT_COST_METADATA,
  RATE_LIMIT_OPTIONS_METADATA,
  SKIP_RATE_LIMIT_METADATA,
} from './tokens.js';

/** Turns an injectable limiter class into its instance (through Nest DI). */
export type ProviderResolver = (type: Type<unknown>) => Promise<unknown>;

/** A class or a method, as Nest hands them to guards (`getClass()`, `getHandler()`). */
export type NamedFunction = object & { readonly name: string };

/** Most limit combinations one handler may have through `limitByContext` choices. */
const MAX_COMBINATIONS = 256;

/** What bootstrap needs besides the decorators: DI and the module-wide defaults (follow-ups.ts). */
export interface PlanDefaults extends FollowUpDefaults {
  readonly resolveProvider: ProviderResolver;
  readonly messageLimitConfigured: boolean;
  readonly toolDenial: ToolDenial;
  /** The module's OpenTelemetry metrics, when on: each plan takes its recorders at bootstrap. */
  readonly metrics: RateLimitMetrics | undefined;
}

/** The plans of an app, by class and by handler (`null`: scanned, nothing to do). */
export type HandlerPlans = Map<NamedFunction, Map<NamedFunction, HandlerPlan | null>>;

/**
 * Scans every controller and provider for rate-limit decorators and builds each handler's plan.
 * Throws `RateLimitConfigError` naming `Class.method` and the bad field at the first bad one, so a
 * misconfiguration fails application bootstrap instead of the first request.
 */
export async function buildHandlerPlans(
  discovery: DiscoveryService,
  scanner: MetadataScanner,
  defaults: PlanDefaults,
): Promise<HandlerPlans> {
  refuseSecondModule(discovery.getProviders());
  refuseLostDeclarations(classesOf(discovery));
  const plans: HandlerPlans = new Map();
  const methods = [...appMethods(discovery, scanner)];
  refuseGuardsOfOtherCopies(methods);
  for (const { type, methodName, handler } of methods) {
    const plan = await planHandler(type, methodName, handler, defaults);
    let byHandler = plans.get(type);
    if (byHandler === undefined) plans.set(type, (byHandler = new Map()));
    byHandler.set(handler, plan ?? null);
  }
  refuseUnenforceableDeclarations(methods);
  const messageLimited = [...plans.values()].some((byHandler) =>
    [...byHandler.values()].some((plan) => plan?.messageLimited === true),
  );
  if (defaults.messageLimitConfigured && !messageLimited) {
    throw new RateLimitConfigError(
      'McpRateLimitModule has a "messageLimit" option but no HTTP route is marked @LimitMcpMessages(), so it would count nothing (the /mcp route McpModule mounts itself carries no decorator). Fix: serve the MCP endpoint from your own controller (a class that extends McpHttpControllerFor(transport)) and put @LimitMcpMessages() on it (README, "Message-level limits"), or remove "messageLimit"',
    );
  }
  return plans;
}

/** Every controller and provider class of the app. */
function classesOf(discovery: DiscoveryService): Set<Type<unknown>> {
  const classes = new Set<Type<unknown>>();
  for (const wrapper of [...discovery.getControllers(), ...discovery.getProviders()]) {
    const metatype = wrapper.metatype as Type<unknown> | undefined | null;
    if (typeof metatype === 'function' && metatype.prototype !== undefined) classes.add(metatype);
  }
  return classes;
}

/** One method of a class of the app. */
export interface AppMethod {
  readonly type: NamedFunction;
  readonly methodName: string;
  readonly handler: NamedFunction;
}

/**
 * Every method of the app's classes (MCP-Nest handlers among them), known as soon as Nest has
 * scanned the modules: before any handler's guards and interceptors are put together.
 */
export function* appMethods(
  discovery: DiscoveryService,
  scanner: MetadataScanner,
): Generator<AppMethod> {
  for (const type of classesOf(discovery)) {
    for (const methodName of scanner.getAllMethodNames(type.prototype)) {
      const handler = (type.prototype as Record<string, unknown>)[methodName];
      if (typeof handler === 'function') yield { type, methodName, handler };
    }
  }
}

/** The plan of one handler, or undefined when no rate-limit decorator concerns it. */
async function planHandler(
  type: NamedFunction,
  methodName: string,
  handler: NamedFunction,
  defaults: PlanDefaults,
): Promise<HandlerPlan | undefined> {
  const { resolveProvider, messageLimitConfigured } = defaults;
  const owner = `${type.name}.${methodName}`;
  const classSpecs = Reflect.getMetadata(RATE_LIMITS_METADATA, type) as unknown;
  const methodSpecs = Reflect.getMetadata(RATE_LIMITS_METADATA, handler) as unknown;
  const classLimits = classLimitsApply(type, handler);
  const costHolder = (Reflect.getMetadata(RATE_LIMIT_COST_METADATA, handler) ??
    Reflect.getMetadata(RATE_LIMIT_COST_METADATA, type)) as { cost: unknown } | undefined;
  const messageLimited =
    Reflect.getMetadata(MCP_MESSAGE_LIMIT_METADATA, handler) === true ||
    Reflect.getMetadata(MCP_MESSAGE_LIMIT_METADATA, type) === true;
  const handlerOptions = handlerOptionsOf(type, handler);
  const kind = kindOf(handler);
  // Only the handlers Nest routes to (HTTP routes, microservice patterns) pass through guards.
  const isRoute =
    Reflect.hasMetadata(NEST_ROUTE_PATH, handler) ||
    Reflect.hasMetadata(NEST_MESSAGE_PATTERN, handler);
  if (!isRoute) {
    const limitedHere =
      (kind !== 'route' && classLimits && classSpecs !== undefined) || methodSpecs !== undefined;
    if (limitedHere) throw unenforceable(owner, kind);
    // Other methods of a decorated class inherit its class-level metadata but are never called
    // through Nest: nothing to enforce there.
    return undefined;
  }
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
  // Only the declarations that hold: a skipped one is neither resolved nor enforced.
  const specs = [...(classLimits ? asSpecList(classSpecs) : []), ...asSpecList(methodSpecs)];
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
  const limited = specs.length > 0;
  if (!limited && !messageLimited) return undefined;
  const own = checkHandlerOptions(owner, handlerOptions);
  return new HandlerPlan({
    owner,
    kind,
    sets,
    contextual,
    cost,
    limited,
    messageLimited,
    toolDenial: own.toolDenial ?? defaults.toolDenial,
    refundWhen: own.refundWhen ?? defaults.refundWhen,
    multiRoundTrip: own.multiRoundTrip,
    reportsQuota: defaults.advertiseLimits,
    followsCalls: followsCalls(type, handler, defaults),
    metrics: defaults.metrics && {
      handler: limited ? defaults.metrics.forHandler(owner, 'handler') : undefined,
      message: messageLimited ? defaults.metrics.forHandler(owner, 'message') : undefined,
    },
  });
}

/** Whether a method is an MCP-Nest tool, resource (or template) or prompt, or another handler. */
function kindOf(handler: NamedFunction): HandlerKind {
  if (Reflect.hasMetadata(MCP_NEST_TOOL, handler)) return 'tool';
  if (
    Reflect.hasMetadata(MCP_NEST_RESOURCE, handler) ||
    Reflect.hasMetadata(MCP_NEST_RESOURCE_TEMPLATE, handler)
  ) {
    return 'resource';
  }
  if (Reflect.hasMetadata(MCP_NEST_PROMPT, handler)) return 'prompt';
  return 'route';
}

/**
 * A limit declared where no guard can ever run: refused, so that it is not believed to hold. An
 * MCP handler without a microservice pattern is MCP-Nest 1.x's, which calls tools, resources and
 * prompts directly, outside Nest's guards.
 */
function unenforceable(owner: string, kind: HandlerKind): RateLimitConfigError {
  if (kind !== 'route') {
    return new RateLimitConfigError(
      `${owner}: this MCP ${kind} has rate limits that cannot be enforced: it is served by MCP-Nest 1.x (@rekog/mcp-nest < 2), which calls handlers directly, outside Nest's guards. Fix: upgrade to @rekog/mcp-nest 2.x (McpStrategy), or limit inside the handler with createRateLimiter() and remove @RateLimit()`,
    );
  }
  return new RateLimitConfigError(
    `${owner}: @RateLimit() is on a method Nest never routes calls to (no HTTP route and no microservice pattern), so no guard can enforce it. Fix: put it on a controller's route or an MCP-Nest 2.x tool, resource or prompt, or limit in code with createRateLimiter()`,
  );
}

function checkHandlerOptions(owner: string, value: unknown): HandlerRateLimitOptions {
  if (value === undefined) return {};
  const fail = (message: string): never => {
    throw new RateLimitConfigError(`${owner}: @RateLimitOptions() ${message}`);
  };
  if (value === null || typeof value !== 'object') fail('needs an object');
  const options = value as Record<string, unknown>;
  for (const key of Object.keys(options)) {
    if (key !== 'toolDenial' && key !== 'refundWhen' && key !== 'multiRoundTrip') {
      fail(`has an unknown option "${key}" (expected toolDenial, refundWhen, multiRoundTrip)`);
    }
  }
  const { toolDenial, refundWhen, multiRoundTrip } = options;
  if (toolDenial !== undefined && toolDenial !== 'error' && toolDenial !== 'result') {
    fail(`"toolDenial" must be error or result (got ${describeValue(toolDenial)})`);
  }
  if (refundWhen !== undefined && typeof refundWhen !== 'function') {
    fail('"refundWhen" must be a function (outcome) => boolean');
  }
  if (multiRoundTrip !== undefined && typeof multiRoundTrip !== 'boolean') {
    fail(`"multiRoundTrip" must be true or false (got ${describeValue(multiRoundTrip)})`);
  }
  return options;
}

/** The bootstrap log line's summary of what is enforced, e.g. `limits on 3 tools, 1 resource`. */
export function describePlans(plans: HandlerPlans): string {
  const counts = { tool: 0, resource: 0, prompt: 0, route: 0 };
  for (const byHandler of plans.values()) {
    for (const plan of byHandler.values()) if (plan?.limited === true) counts[plan.kind]++;
  }
  const part = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;
  return `limits on ${part(counts.tool, 'tool', 'tools')}, ${part(counts.resource, 'resource', 'resources')}, ${part(counts.prompt, 'prompt', 'prompts')} and ${part(counts.route, 'other handler', 'other handlers')}`;
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
        `${owner}: ${where} (${spec.name === '' ? 'anonymous class' : spec.name}) could not be resolved through Nest DI: ${reason}`,
      );
    }
    if (!isProtocolLimiter(instance)) {
      throw new RateLimitConfigError(
        `${owner}: ${where} (${spec.name === '' ? 'anonymous class' : spec.name}) must implement consume(context)`,
      );
    }
    return instance;
  }
  if (isProtocolLimiter(spec)) return spec;
  const other = otherCopyOf(spec);
  if (other !== undefined) {
    throw twoCopiesError(`${owner}: ${where} (${describeValue(spec)})`, other, THIS_COPY);
  }
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
  const names = checkedChoiceNames(spec, `${owner}: ${where}`);
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

/** Whether a handler or its class carries any rate-limit decorator. */
export function hasRateLimitMetadata(type: NamedFunction, handler: NamedFunction): boolean {
  const keys = [
    RATE_LIMITS_METADATA,
    SKIP_RATE_LIMIT_METADATA,
    RATE_LIMIT_COST_METADATA,
    MCP_MESSAGE_LIMIT_METADATA,
    RATE_LIMIT_OPTIONS_METADATA,
  ];
  return keys.some((key) => Reflect.hasMetadata(key, handler) || Reflect.hasMetadata(key, type));
}

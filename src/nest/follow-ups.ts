import type { DiscoveryService } from '@nestjs/core';
import { holdsSlots } from '../core/limit-set.js';
import { ContextualLimit } from './contextual-limit.js';
import type { HandlerRateLimitOptions, McpRateLimitModuleOptions } from './options.js';
import {
  MCP_MESSAGE_LIMIT_METADATA,
  MCP_NEST_PROMPT,
  MCP_NEST_RESOURCE,
  MCP_NEST_RESOURCE_TEMPLATE,
  MCP_NEST_TOOL,
  RATE_LIMITS_METADATA,
  NEST_PAYLOAD_PARAM,
  NEST_ROUTE_ARGS,
  RATE_LIMIT_OPTIONS_METADATA,
} from './tokens.js';

/** The module-wide options that make a limited handler's calls worth following to their end. */
export interface FollowUpDefaults {
  readonly refundWhen: HandlerRateLimitOptions['refundWhen'];
  /** Whether admitted tool results carry the caller's quota. */
  readonly advertiseLimits: boolean;
  /** The classes Nest makes anew for each call (see {@link perRequestClasses}), once known. */
  readonly perRequest?: ReadonlySet<object>;
}

/** The follow-up defaults of the module's options (and its request-scoped classes, once known). */
export function followUpDefaults(
  options: McpRateLimitModuleOptions,
  perRequest?: ReadonlySet<object>,
): FollowUpDefaults {
  return {
    refundWhen: options.refundWhen,
    advertiseLimits: options.advertiseLimits === true,
    perRequest,
  };
}

/**
 * Whether the interceptor must follow the admitted calls of a limited handler to their end.
 * Nest runs an interceptor through Observables and an async resource on every call it is bound
 * to, so it is bound only where a call's end matters:
 * - `refundWhen` (the handler's or the module's): the call may be given back;
 * - a `ConcurrencyLimit`: the call's slot is released when it ends;
 * - `advertiseLimits` on a tool: its result carries the caller's quota;
 * - a multi round-trip call (MCP 2026-07-28): the `requestState` of an `input_required` answer is
 *   recorded so that its retry is charged once. Only a handler that reads its MCP context can
 *   continue such a call (the SDK hands the retry's answers and state over on the context, never
 *   in the arguments), so an MCP-Nest handler whose parameters are all `@Payload()` cannot: each
 *   of its rounds is a new call, charged as one, unless its class is made per call (it may inject
 *   `CONTEXT`). A route declared an MCP endpoint (`@LimitMcpMessages()`) reads the whole request,
 *   and is always followed; any other route (or microservice pattern) answers no MCP, so it has no
 *   multi round-trip call to continue (handler-plan.ts, `answers`).
 */
export function followsCalls(
  type: object,
  methodName: string,
  handler: object,
  defaults: FollowUpDefaults,
): boolean {
  if (declaresSlots(type, handler)) return true;
  const own = handlerOptionsOf(type, handler) as HandlerRateLimitOptions | undefined;
  if ((own?.refundWhen ?? defaults.refundWhen) !== undefined) return true;
  const isTool = Reflect.hasMetadata(MCP_NEST_TOOL, handler);
  if (isTool && defaults.advertiseLimits) return true;
  const isMcpHandler =
    isTool ||
    Reflect.hasMetadata(MCP_NEST_RESOURCE, handler) ||
    Reflect.hasMetadata(MCP_NEST_RESOURCE_TEMPLATE, handler) ||
    Reflect.hasMetadata(MCP_NEST_PROMPT, handler);
  if (!isMcpHandler) {
    return (
      Reflect.getMetadata(MCP_MESSAGE_LIMIT_METADATA, handler) === true ||
      Reflect.getMetadata(MCP_MESSAGE_LIMIT_METADATA, type) === true
    );
  }
  return defaults.perRequest?.has(type) === true || readsItsContext(type, methodName);
}

/** Whether a `ConcurrencyLimit` is among the handler's limits (its class's, its choices'). */
function declaresSlots(type: object, handler: object): boolean {
  const specs = [
    ...asList(Reflect.getMetadata(RATE_LIMITS_METADATA, type)),
    ...asList(Reflect.getMetadata(RATE_LIMITS_METADATA, handler)),
  ];
  return specs.some(
    (spec) =>
      holdsSlots(spec) ||
      (spec instanceof ContextualLimit &&
        Object.values(spec.choices).some((choice) =>
          (Array.isArray(choice) ? choice : [choice]).some(holdsSlots),
        )),
  );
}

function asList(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

/**
 * A handler's `@RateLimitOptions()`: its class's, each field the method sets overriding the
 * class's, so that a method choosing its `toolDenial` keeps its class's `refundWhen`. A value that
 * is not an object is returned as it is, for bootstrap to refuse.
 */
export function handlerOptionsOf(type: object, handler: object): unknown {
  const onClass: unknown = Reflect.getMetadata(RATE_LIMIT_OPTIONS_METADATA, type);
  const onMethod: unknown = Reflect.getMetadata(RATE_LIMIT_OPTIONS_METADATA, handler);
  if (onClass === undefined || onMethod === undefined) return onMethod ?? onClass;
  if (!isObject(onClass)) return onClass;
  return isObject(onMethod) ? { ...onClass, ...onMethod } : onMethod;
}

function isObject(value: unknown): value is object {
  return value !== null && typeof value === 'object';
}

/**
 * The controllers Nest makes anew for each call (request-scoped, explicitly or because they inject
 * `CONTEXT` or a provider that does): their handlers read the MCP context through the injected
 * request, whatever their parameters. Known once Nest has resolved every class (the app's init
 * hooks), which is in time: Nest puts a request-scoped handler's interceptors together per call.
 */
export function perRequestClasses(discovery: DiscoveryService): Set<object> {
  const classes = new Set<object>();
  for (const wrapper of discovery.getControllers()) {
    const type: unknown = wrapper.metatype;
    if (typeof type === 'function' && !wrapper.isDependencyTreeStatic()) classes.add(type);
  }
  return classes;
}

/**
 * Whether an MCP-Nest handler can read its MCP context: it has a parameter that is not
 * `@Payload()` (`@Ctx()`, a custom decorator), or no parameter decorators at all (Nest then
 * passes the payload and the context as they come).
 */
function readsItsContext(type: object, methodName: string): boolean {
  const params = Reflect.getMetadata(NEST_ROUTE_ARGS, type, methodName) as
    Record<string, unknown> | undefined;
  const keys = params === undefined ? [] : Object.keys(params);
  if (keys.length === 0) return true;
  return keys.some((key) => !key.startsWith(`${NEST_PAYLOAD_PARAM}:`));
}

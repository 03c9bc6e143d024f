import { holdsSlots } from '../core/limit-set.js';
import { ContextualLimit } from './contextual-limit.js';
import type { HandlerRateLimitOptions, McpRateLimitModuleOptions } from './options.js';
import { MCP_NEST_TOOL, RATE_LIMITS_METADATA, RATE_LIMIT_OPTIONS_METADATA } from './tokens.js';

/** The module-wide options that make a limited handler's calls worth following to their end. */
export interface FollowUpDefaults {
  readonly refundWhen: HandlerRateLimitOptions['refundWhen'];
  /** Whether admitted tool results carry the caller's quota. */
  readonly advertiseLimits: boolean;
}

/** The follow-up defaults of the module's options. */
export function followUpDefaults(options: McpRateLimitModuleOptions): FollowUpDefaults {
  return { refundWhen: options.refundWhen, advertiseLimits: options.advertiseLimits === true };
}

/**
 * Whether the interceptor must follow the admitted calls of a limited handler to their end.
 * Nest runs an interceptor through Observables and an async resource on every call it is bound
 * to, so it is bound only where a call's end matters:
 * - `refundWhen` (the handler's or the module's): the call may be given back;
 * - a `ConcurrencyLimit`: the call's slot is released when it ends;
 * - `advertiseLimits` on a tool: its result carries the caller's quota;
 * - `multiRoundTrip` (the handler's or its class's): the `requestState` of an `input_required`
 *   answer is recorded so that its retry is charged once (MCP 2026-07-28). A declaration, not a
 *   guess from the handler's answers or parameters: an answer may be data the client wrote, shaped
 *   like an `input_required` one. Undeclared, each round is a new call, charged as one.
 */
export function followsCalls(type: object, handler: object, defaults: FollowUpDefaults): boolean {
  if (declaresSlots(type, handler)) return true;
  const own = handlerOptionsOf(type, handler) as HandlerRateLimitOptions | undefined;
  if ((own?.refundWhen ?? defaults.refundWhen) !== undefined) return true;
  if (defaults.advertiseLimits && Reflect.hasMetadata(MCP_NEST_TOOL, handler)) return true;
  return own?.multiRoundTrip === true;
}

/**
 * Whether the runs of a followed handler are followed too, next to it: its `ConcurrencyLimit`
 * slots are held while a run is in flight, and with `refundWhen` a call whose run was let go of
 * while it worked (its work may go on) is not given back.
 */
export function followsRuns(type: object, handler: object, defaults: FollowUpDefaults): boolean {
  if (declaresSlots(type, handler)) return true;
  const own = handlerOptionsOf(type, handler) as HandlerRateLimitOptions | undefined;
  return (own?.refundWhen ?? defaults.refundWhen) !== undefined;
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

import type { HandlerRateLimitOptions } from './options.js';
import {
  MCP_NEST_PROMPT,
  MCP_NEST_RESOURCE,
  MCP_NEST_RESOURCE_TEMPLATE,
  MCP_NEST_TOOL,
  NEST_PAYLOAD_PARAM,
  NEST_ROUTE_ARGS,
  RATE_LIMIT_OPTIONS_METADATA,
} from './tokens.js';

/** The module-wide options that make a limited handler's calls worth following to their end. */
export interface FollowUpDefaults {
  readonly refundWhen: unknown;
  readonly advertiseLimits: boolean;
}

/**
 * Whether the interceptor must follow the admitted calls of a limited handler to their end.
 * Nest runs an interceptor through Observables and an async resource on every call it is bound
 * to, so it is bound only where a call's end matters:
 * - `refundWhen` (the handler's or the module's): the call may be given back;
 * - `advertiseLimits` on a tool: its result carries the caller's quota;
 * - a multi round-trip call (MCP 2026-07-28): the `requestState` of an `input_required` answer is
 *   recorded so that its retry is charged once. Only a handler that reads its MCP context can
 *   continue such a call (the SDK hands the retry's answers and state over on the context, never
 *   in the arguments), so an MCP-Nest handler whose parameters are all `@Payload()` cannot: each
 *   of its rounds is a new call, charged as one. A controller route reads the whole request, and
 *   is always followed.
 */
export function followsCalls(
  type: object,
  methodName: string,
  handler: object,
  defaults: FollowUpDefaults,
): boolean {
  const own = (Reflect.getMetadata(RATE_LIMIT_OPTIONS_METADATA, handler) ??
    Reflect.getMetadata(RATE_LIMIT_OPTIONS_METADATA, type)) as HandlerRateLimitOptions | undefined;
  if ((own?.refundWhen ?? defaults.refundWhen) !== undefined) return true;
  const isTool = Reflect.hasMetadata(MCP_NEST_TOOL, handler);
  if (isTool && defaults.advertiseLimits) return true;
  const isMcpHandler =
    isTool ||
    Reflect.hasMetadata(MCP_NEST_RESOURCE, handler) ||
    Reflect.hasMetadata(MCP_NEST_RESOURCE_TEMPLATE, handler) ||
    Reflect.hasMetadata(MCP_NEST_PROMPT, handler);
  return !isMcpHandler || readsItsContext(type, methodName);
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

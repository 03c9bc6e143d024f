import type { LimitResult } from '../core/decision.js';
import { holdsSlots } from '../core/limit-set.js';
import { BuiltInRateLimit } from '../core/limits.js';
import type { AppMethod, HandlerPlans } from './bootstrap-check.js';
import type { HandlerPlan } from './handler-plan.js';
import { MCP_NEST_RESOURCE, MCP_NEST_RESOURCE_TEMPLATE, MCP_NEST_TOOL } from './tokens.js';

// Limits an agent can read before it is denied (module option `advertiseLimits`). The `_meta` keys
// carry a prefix of our own, in the reverse-DNS form the MCP specification asks for (its second
// label is neither `modelcontextprotocol` nor `mcp`, which MCP reserves): the package's npm name.
const PREFIX = 'com.npmjs.nestjs-mcp-rate-limit/';

/** `_meta` key of a handler's limits in `tools/list` and `resources/list`. */
export const LIMITS_META_KEY = `${PREFIX}limits`;
/** `_meta` key of the caller's quota in an admitted tool result. */
export const QUOTA_META_KEY = `${PREFIX}quota`;

/** One limit as listed: what a client may do, per window. */
export interface AdvertisedLimit {
  /** e.g. `FixedWindowRateLimit(5 per 10s)`. */
  readonly limit: string;
  readonly quota: number;
  readonly windowSeconds: number;
}

/** One limit as a tool result reports it: what the caller has left after this call. */
export interface AdvertisedQuota extends AdvertisedLimit {
  readonly remaining: number;
  /** Whole seconds until the limit is whole again (at least `remaining` would be). */
  readonly resetSeconds: number;
}

const DECLARATION_KEYS = [MCP_NEST_TOOL, MCP_NEST_RESOURCE, MCP_NEST_RESOURCE_TEMPLATE];

/** The `_meta` objects an app gave its handlers' MCP-Nest declarations, by handler. */
export type LimitsMetas = ReadonlyMap<object, readonly Record<string, unknown>[]>;

/**
 * Before MCP-Nest reads the declarations (its transport may start before the app's init hooks,
 * where the limits are known): with `on`, every MCP-Nest declaration (tool, resource, template)
 * of `methods` gets a `_meta` object of this app's own, which MCP-Nest's listing shares and
 * {@link advertiseLimits} fills in place. The declarations belong to the classes, shared by every
 * app of the process made from them: each app gets a copy (without the limits another app listed),
 * so that an app that lists limits keeps them and an app without the option never lists another's.
 */
export function prepareLimitsMeta(methods: Iterable<AppMethod>, on: boolean): LimitsMetas {
  const installed = new Map<object, Record<string, unknown>[]>();
  for (const { handler } of methods) {
    const metas: Record<string, unknown>[] = [];
    for (const key of DECLARATION_KEYS) {
      const declaration = Reflect.getMetadata(key, handler) as unknown;
      if (declaration === null || typeof declaration !== 'object') continue;
      const options = declaration as { _meta?: Record<string, unknown> };
      if (options._meta === undefined && !on) continue;
      const own: Record<string, unknown> = { ...options._meta };
      delete own[LIMITS_META_KEY];
      options._meta = own;
      metas.push(own);
    }
    if (metas.length > 0) installed.set(handler, metas);
  }
  return installed;
}

/**
 * Puts each limited tool's and resource's limits in the `_meta` this app gave its MCP-Nest
 * declaration ({@link prepareLimitsMeta}), which MCP-Nest copies into `tools/list` and
 * `resources/list`. MCP-Nest 2.0.5 does not list prompts' `_meta`: prompts are not advertised.
 */
export function advertiseLimits(plans: HandlerPlans, metas: LimitsMetas): void {
  for (const byHandler of plans.values()) {
    for (const [handler, plan] of byHandler) {
      if (plan?.limited !== true) continue;
      const limits = limitsOf(plan);
      if (limits.length === 0) continue;
      for (const meta of metas.get(handler) ?? []) meta[LIMITS_META_KEY] = limits;
    }
  }
}

/** The built-in limits of a handler, each once (over every `limitByContext` choice). */
function limitsOf(plan: HandlerPlan): AdvertisedLimit[] {
  const seen = new Set<BuiltInRateLimit>();
  for (const set of plan.allSets) for (const { limit } of set.builtIns) seen.add(limit);
  return [...seen].map(advertised);
}

function advertised(limit: BuiltInRateLimit): AdvertisedLimit {
  return { limit: limit.describe(), ...limit.policy };
}

/**
 * An admitted tool call's result with the caller's quota in its `_meta` (each built-in rate
 * limit's remaining units and reset time; concurrency limits are not reported). Only an MCP tool result object is given one; anything else (a
 * string MCP-Nest wraps itself) is left as it is.
 */
export function withQuota(result: unknown, results: readonly LimitResult[]): unknown {
  if (result === null || typeof result !== 'object' || !('content' in result)) return result;
  const quota: AdvertisedQuota[] = [];
  for (const { limiter, remaining, resetAfterMs } of results) {
    if (!(limiter instanceof BuiltInRateLimit) || remaining === undefined) continue;
    // A concurrency slot comes back when the call ends, now: what was left at its start would
    // only make an agent wait for a lease to expire.
    if (holdsSlots(limiter)) continue;
    quota.push({
      ...advertised(limiter),
      remaining,
      resetSeconds: Math.ceil((resetAfterMs ?? 0) / 1000),
    });
  }
  if (quota.length === 0) return result;
  const meta = (result as { _meta?: Record<string, unknown> })._meta;
  return { ...result, _meta: { ...meta, [QUOTA_META_KEY]: quota } };
}

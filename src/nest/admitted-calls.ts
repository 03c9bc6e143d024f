import { createHash, randomUUID } from 'node:crypto';
import type { LimitSet, RateLimitDecision } from '../core/engine.js';
import type { ExecutionContext } from '@nestjs/common';
import type { RateLimitContext } from '../core/context.js';
import { lightenReceipt } from '../core/decision.js';
import type { ContinuationRegistry } from '../mcp/continuations.js';
import type { HandlerPlan } from './handler-plan.js';
import type { PlainRuns, SlotHold } from './slot-hold.js';

/**
 * What a multi round-trip call carries from its charged first round to its continuations, so
 * that `refundWhen` can give the charge back when the logical call ends (in a later round).
 */
export interface CarriedCharge {
  readonly charged: RateLimitContext;
  readonly decision: RateLimitDecision;
  /** The limit set the charge was taken from (default: the one `charged` selects). */
  readonly set?: LimitSet;
  /**
   * A digest of the request the charge was taken for (method, tool, prompt or resource, and
   * arguments): a retry of another request (another tool of the same JSON-RPC route, other
   * arguments: a bigger cost, another `limitByContext` choice) is not the call that was charged,
   * and pays as a new one.
   */
  readonly callDigest?: string;
}

/** The parts of a call a retry must repeat to be the call that was charged. */
interface DigestedCall {
  readonly method?: string | undefined;
  readonly target?: string | undefined;
  readonly args?: unknown;
}

/** A digest of a call's method, target and arguments; unique when they cannot be read. */
export function callDigestOf({ method, target, args }: DigestedCall): string {
  try {
    return createHash('sha256')
      .update(JSON.stringify([method ?? null, target ?? null, args ?? null]))
      .digest('base64url');
  } catch {
    return `unreadable:${randomUUID()}`; // matches nothing: such a retry is charged
  }
}

/**
 * The charge of `decided` as a continuation carries it: only what a refund needs (subject, method,
 * target and cost; the limit set and the decision's receipt), never the call's request, MCP
 * context or arguments, which a registry of thousands of states, each kept minutes, must not keep.
 */
export function carriedChargeOf(decided: DecidedCall): CarriedCharge | undefined {
  const charge = decided.charge;
  if (charge === undefined) return undefined;
  const { charged, decision } = charge;
  const { subject, method, target, cost } = charged;
  const light: RateLimitContext = { subject, method, target, cost };
  // The receipt is shared with the first round, so the charge is still given back once.
  lightenReceipt(decision, light);
  const set = charge.set ?? decided.plan.setFor(charged);
  return {
    charged: light,
    decision,
    set,
    callDigest: charge.callDigest ?? callDigestOf(charged),
  };
}

/** What the interceptor does after a followed call, for the module that decided it. */
export interface CallFollowUp {
  readonly continuations: ContinuationRegistry<CarriedCharge>;
  readonly logger: { warn(message: string): void };
  refund(plan: HandlerPlan, charge: CarriedCharge): void;
}

/** What the guard decided for one call, for the interceptor that runs after the handler. */
export interface DecidedCall {
  /** The module that decided the call (one app may not be the only one in the process). */
  readonly followUp: CallFollowUp;
  readonly plan: HandlerPlan;
  /** The subject the call was decided for (`unidentified` when shared by unknown callers). */
  readonly subject: string;
  /**
   * The charge of the handler's limits, when the call was charged to them (for a continuation of a
   * multi round-trip call: its first round's, carried on): what `refundWhen` may give back, once.
   */
  readonly charge?: CarriedCharge;
  /** Which round of its logical call this is (default 1: the first, charged). */
  readonly round?: number;
  /**
   * The `ConcurrencyLimit` slots this call holds, released when it ends (for the retry of a multi
   * round-trip call, the slots it took again; its charge is `decision`).
   */
  readonly slots?: SlotHold;
  /** How far the module's interceptors have followed the call: theirs to set. */
  progress?: CallProgress;
}

/**
 * One call as the module's interceptors follow it. Nest may run the interceptor outside the
 * method's own interceptors more than once for one call (a class-level or global interceptor that
 * retries it): what it judges, it judges once per call.
 */
export interface CallProgress {
  /** The outer interceptor follows the call now: a second binding of it passes the call through. */
  following: boolean;
  /** The call's end was judged (`refundWhen`, a continuation). */
  judged: boolean;
  /** Its charge was given back: it must not run again uncharged. */
  refunded: boolean;
  /** The runs of its handler, for a handler without slots (with slots, `slots` follows them). */
  readonly runs: PlainRuns;
}

/**
 * Where a call's decision is noted: on the object Nest hands every guard of one call (the HTTP
 * request, or the RPC context: MCP-Nest makes one `McpContext` per call), under a symbol of ours.
 * A guard bound twice (by the decorator and globally, or by `@UseMcpRateLimit()`) decides a call
 * once. A property rather than a WeakMap from calls: a WeakMap entry per call is work for the
 * garbage collector on every collection, paid by the whole server.
 */
const DECIDED = Symbol('nestjs-mcp-rate-limit decided call');

type CallKey = object & { [DECIDED]?: DecidedCall | null };

/** The object that stands for this call, or undefined when Nest gave none. */
export function callKeyOf(context: ExecutionContext, type: 'rpc' | 'http'): object | undefined {
  const key: unknown = context.getArgByIndex(type === 'http' ? 0 : 1);
  return key !== null && typeof key === 'object' ? key : undefined;
}

/** Whether the call of `key` was already decided (by an earlier run of the guard). */
export function isDecided(key: object | undefined): boolean {
  return key !== undefined && (key as CallKey)[DECIDED] !== undefined;
}

/** Mark the call of `key` as decided; `decided` is what the interceptor needs, if anything. */
export function markDecided(key: object | undefined, decided: DecidedCall | null): void {
  if (key !== undefined) (key as CallKey)[DECIDED] = decided;
}

/** What the guard decided for the call of `key`, when it admitted it with something to follow. */
export function decidedCall(key: object | undefined): DecidedCall | undefined {
  return key === undefined ? undefined : ((key as CallKey)[DECIDED] ?? undefined);
}

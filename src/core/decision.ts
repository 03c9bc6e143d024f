// How the results of a call's limiters become its decision: one result per limiter, the longest
// wait among the denials, the wire's whole seconds.
import {
  describeValue,
  type McpRateLimiter,
  type RateLimitContext,
  type RateLimitVerdict,
} from './context.js';
import type { BuiltInRateLimit } from './built-in-limit.js';
import { StoreUnavailableError, type LimitCheck, type LimitOutcome } from './stores/store.js';

/** Anything `@RateLimit()` or `createRateLimiter()` accepts: a built-in limit or the protocol. */
export type Limiter = BuiltInRateLimit | McpRateLimiter;

/** What one limiter decided. */
export interface LimitResult {
  readonly limiter: Limiter;
  readonly allowed: boolean;
  /** 0 when allowed. */
  readonly retryAfterMs: number;
  /** Units left; undefined when a custom limiter did not say. */
  readonly remaining: number | undefined;
  /** The quota; undefined when a custom limiter did not say. */
  readonly quota: number | undefined;
  readonly resetAfterMs: number | undefined;
  /**
   * What the call costs under this limit; undefined for a custom limiter. Above `quota`, no window
   * ever admits the call: waiting does not help, a smaller call does.
   */
  readonly cost?: number;
}

/** The decision for one call, over all its limits. */
export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Whole seconds to wait before retrying (at least 1), `null` when allowed. The wire value. */
  readonly retryAfter: number | null;
  /** The same in milliseconds, unrounded; 0 when allowed. */
  readonly retryAfterMs: number;
  /** The limiter that denied (the one with the longest wait when several did). */
  readonly deniedBy: Limiter | undefined;
  /** One result per limiter that was consulted, built-in limits first in declared order. */
  readonly results: readonly LimitResult[];
  /**
   * Frees the slots of the `ConcurrencyLimit`s this admitted call holds, once: call it when
   * the work ends (`finally`). A second release, a denied decision, a peek or a decision without
   * concurrency limits frees nothing. Independent of `refund`, which gives back rate limits only.
   * The Nest interceptor releases the calls of `@RateLimit()` handlers itself.
   */
  release(): Promise<void>;
}

/**
 * Where an engine keeps what an admitted decision holds (its `Receipt`, check.ts): a symbol, so
 * that the decision's JSON and keys stay its public fields.
 */
export const RECEIPT = Symbol('rate-limit receipt');

/** What a decision asks of its receipt. */
export interface Releasable {
  /** The context the call was admitted with: what `refund(decision)` gives custom limiters. */
  readonly context: RateLimitContext;
  release(decision: RateLimitDecision): Promise<void>;
  /** Keep `context` instead, and only what a refund or a release will read. */
  lighten(context: RateLimitContext): void;
}

/**
 * Lets `context` stand for the one the admitted `decision` was made with, in its receipt: a
 * lighter one (no request, no arguments) for a decision kept long after its call, e.g. the charge a
 * multi round-trip call carries between rounds, so that keeping it does not keep the whole request
 * (nor the store's answer).
 */
export function lightenReceipt(decision: RateLimitDecision, context: RateLimitContext): void {
  (decision as { [RECEIPT]?: Releasable })[RECEIPT]?.lighten(context);
}

const RELEASED: Promise<void> = Promise.resolve();

/** A class, so that `release` is one function on the prototype, not a closure per decision. */
class Decision implements RateLimitDecision {
  /**
   * What an engine's admission took, set by the engine on an admitted decision. Declared, not
   * initialised: defined in the constructor, it would be paid for by every decision, denied and
   * peeked ones too, for what only an admission uses (figures in commit 7bc4a02).
   */
  declare [RECEIPT]?: Releasable;

  constructor(
    readonly allowed: boolean,
    readonly retryAfter: number | null,
    readonly retryAfterMs: number,
    readonly deniedBy: Limiter | undefined,
    readonly results: readonly LimitResult[],
  ) {}

  release(): Promise<void> {
    const receipt = this[RECEIPT];
    return receipt === undefined ? RELEASED : receipt.release(this);
  }
}

/** Milliseconds to the seconds of the wire: rounded up, at least 1. */
export function toRetryAfterSeconds(retryAfterMs: number): number {
  // The small slack keeps float noise (3000.0000000001 ms) from adding a whole second.
  return Math.max(1, Math.ceil(retryAfterMs / 1000 - 1e-9));
}

/**
 * The decision from what the store answered for `checks`, then the custom limiters' results.
 * @param committed whether an admitted call was counted (false for a peek).
 */
export function decisionOf(
  checks: readonly LimitCheck[],
  outcomes: readonly LimitOutcome[],
  customResults: readonly LimitResult[],
  committed: boolean,
): RateLimitDecision {
  const builtIns = outcomes.length;
  if (builtIns !== checks.length) throw wrongCount(builtIns, checks.length);
  let allowed = true;
  for (let index = 0; index < builtIns; index++) {
    const outcomeAllowed = outcomes[index].allowed;
    // Garbage from a store must never read as an admission.
    if (outcomeAllowed !== true) {
      if (outcomeAllowed !== false) throw notBoolean(outcomeAllowed);
      allowed = false;
    }
  }
  // Made at its length: a push would give it a spare capacity of 16 to collect on every call.
  const results = new Array<LimitResult>(builtIns + customResults.length);
  for (let index = 0; index < builtIns; index++) {
    const { limit, cost } = checks[index];
    results[index] = builtInResult(limit, outcomes[index], cost, allowed && committed);
  }
  for (let index = 0; index < customResults.length; index++) {
    results[builtIns + index] = customResults[index];
  }
  return allowed ? admission(results) : denial(results, longestWait(results));
}

// The store's malformed answers, apart from decisionOf: a decision's code stays short enough for
// V8 to inline it where it is made.
function wrongCount(outcomes: number, checks: number): StoreUnavailableError {
  return new StoreUnavailableError(
    `the rate-limit store answered ${outcomes} outcome(s) for ${checks} limit(s)`,
  );
}

function notBoolean(allowed: unknown): StoreUnavailableError {
  return new StoreUnavailableError(
    `the rate-limit store answered allowed: ${describeValue(allowed)} (not a boolean)`,
  );
}

/** The denying result with the longest wait (the first of them on a tie). */
function longestWait(results: readonly LimitResult[]): LimitResult {
  let longest = results[0];
  for (const result of results) {
    if (!result.allowed && (longest.allowed || result.retryAfterMs > longest.retryAfterMs)) {
      longest = result;
    }
  }
  return longest;
}

/**
 * @param committed whether the call was counted: when it was not (denied as a whole, or peeked), a
 *   limit that admitted it on its own reported `remaining` after this call's cost: give that back.
 */
function builtInResult(
  limit: BuiltInRateLimit,
  outcome: LimitOutcome,
  cost: number,
  committed: boolean,
): LimitResult {
  const quota = limit.policy.quota;
  const remaining =
    outcome.allowed && !committed && cost > 0
      ? Math.min(quota, Math.floor(outcome.remaining + cost))
      : outcome.remaining;
  return {
    limiter: limit,
    allowed: outcome.allowed,
    retryAfterMs: outcome.retryAfterMs,
    remaining,
    quota,
    resetAfterMs: outcome.resetAfterMs,
    cost,
  };
}

export function toLimitResult(limiter: McpRateLimiter, verdict: RateLimitVerdict): LimitResult {
  const rich = typeof verdict === 'object' && verdict !== null ? verdict : undefined;
  const retryAfter = rich === undefined ? verdict : rich.retryAfter;
  if (
    retryAfter !== null &&
    !(typeof retryAfter === 'number' && retryAfter >= 0 && Number.isFinite(retryAfter))
  ) {
    // A limiter that answers garbage must not let the call through by accident.
    throw new TypeError(
      `${describeValue(limiter)}: consume() must return seconds to wait (a non-negative number), null to allow, or { retryAfter } (got ${describeValue(retryAfter)})`,
    );
  }
  return {
    limiter,
    allowed: retryAfter === null,
    retryAfterMs: retryAfter === null ? 0 : retryAfter * 1000,
    remaining: reported(rich?.remaining),
    quota: reported(rich?.limit),
    resetAfterMs: rich === undefined ? undefined : millisecondsOf(reported(rich.resetAfter)),
  };
}

/**
 * A custom limiter's report field (for headers and `results`), or undefined when it is no finite
 * non-negative number: NaN, Infinity or a string would make a header a client's parser rejects
 * whole. Left out rather than failing a call the limiter has already admitted (and charged).
 */
function reported(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function millisecondsOf(seconds: number | undefined): number | undefined {
  return seconds === undefined ? undefined : seconds * 1000;
}

export function admission(results: readonly LimitResult[]): RateLimitDecision {
  return new Decision(true, null, 0, undefined, results);
}

export function denial(results: readonly LimitResult[], denying: LimitResult): RateLimitDecision {
  const retryAfter = toRetryAfterSeconds(denying.retryAfterMs);
  return new Decision(false, retryAfter, denying.retryAfterMs, denying.limiter, results);
}

import type { McpRateLimiter, RateLimitContext } from './context.js';
import {
  admission,
  decisionOf,
  denial,
  RECEIPT,
  toLimitResult,
  type LimitResult,
  type RateLimitDecision,
} from './decision.js';
import { LimitSet } from './limit-set.js';
import { BuiltInRateLimit, RateLimitConfigError } from './limits.js';
import { checkKeyPrefix } from './config-checks.js';
import type { LimitOutcome, RateLimitStore } from './stores/store.js';
import { Check, Receipt } from './check.js';

export { toRetryAfterSeconds } from './decision.js';
export type { Limiter, LimitResult, RateLimitDecision } from './decision.js';
export { LimitSet } from './limit-set.js';

const NO_RESULTS: readonly LimitResult[] = [];
const RELEASED: Promise<void> = Promise.resolve();

type Receipted = RateLimitDecision & { [RECEIPT]?: Receipt };

/** The context an admitted decision was made with (undefined: denied, or not from an engine). */
export function admittedContext(decision: RateLimitDecision): RateLimitContext | undefined {
  return (decision as Receipted)[RECEIPT]?.context;
}

/** Options of a {@link RateLimitEngine}. */
export interface RateLimitEngineOptions {
  /** Prefix of every storage key (default `mcprl:`). */
  readonly prefix?: string;
}

/**
 * Decides calls: custom limiters first (declared order, stop at the first denial), then every
 * built-in limit in one atomic store step (all admit and commit, or none commits). A denial anywhere
 * refunds the custom limiters that had admitted, so a denied call consumes no quota.
 */
export class RateLimitEngine {
  readonly prefix: string;
  // Bumped by every reset: a refund of a call admitted before a reset must not give back units of
  // the fresh allowance. Redis also knows of other instances' resets (its reset markers); memory
  // and cache stores do not. For the whole engine: resets are rare, a lost refund errs safe.
  private resets = 0;

  constructor(
    readonly store: RateLimitStore,
    options: RateLimitEngineOptions = {},
  ) {
    this.prefix = checkKeyPrefix(options.prefix ?? 'mcprl:');
  }

  evaluate(set: LimitSet, context: RateLimitContext): Promise<RateLimitDecision> {
    try {
      return Promise.resolve(this.decide(set, context));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * `evaluate`, but the decision itself (not a promise of it) when it can be made synchronously:
   * built-in limits alone, on a store with `evaluateNow` (the MemoryStore). The guard uses it so
   * that an in-memory check makes Nest await nothing.
   * @throws what `evaluate` would reject with, when the decision is synchronous.
   */
  decide(set: LimitSet, context: RateLimitContext): RateLimitDecision | Promise<RateLimitDecision> {
    if (set.customs.length === 0 && this.store.evaluateNow !== undefined) {
      const checks = this.checksOf(set, context.subject, context);
      const outcomes = this.store.evaluateNow(checks);
      const decision = decisionOf(checks, outcomes, NO_RESULTS, true);
      return this.receipted(set, context, checks, outcomes, decision);
    }
    const builtInsAlone = set.customs.length === 0 && set.builtIns.length > 0;
    return builtInsAlone ? this.decideBuiltIns(set, context) : this.decideWithCustoms(set, context);
  }

  /**
   * Gives back what the admitted `decision` (of this set and context) still holds, once: to every
   * built-in limit what its store says the call still holds (`store.refund`: a window that has
   * rolled over, units the refill has brought back give nothing back), and `refund(context)` of
   * every custom limiter. For a call that failed in a way its caller should not pay for. A denied
   * decision, a peek, or one already refunded gives back nothing; so does a built-in limit reset
   * since the call. Concurrency slots are not rate limits: `release` frees them.
   */
  async refund(
    set: LimitSet,
    context: RateLimitContext,
    decision: RateLimitDecision,
  ): Promise<void> {
    const receipt = this.receiptOf(set, decision, 'refund');
    if (receipt === undefined || receipt.refunded) return;
    const builtIns = receipt.resets === this.resets ? receipt.holdings(false) : [];
    if (builtIns.length !== 0 && this.store.refund === undefined) throw missing('refund');
    receipt.refunded = true; // before any await: two refunds at once give back once
    if (builtIns.length !== 0) await this.store.refund?.(builtIns);
    await refundCustoms(set.customs, set.customs.length, context);
  }

  /**
   * Frees the slots of the `ConcurrencyLimit`s the admitted `decision` holds, once: each lease it
   * took leaves the store (`store.refund` of those limits), unless it has expired. A reset since
   * the call does not stop it: the reset dropped the call's leases, and those of later calls carry
   * later expiries, so it frees nothing there. A call the outage policy decided after its command
   * timed out is told too (`onRelease`): that command may have taken slots in the store late.
   */
  release(set: LimitSet, decision: RateLimitDecision): Promise<void> {
    if (!set.holdsSlots) return RELEASED;
    try {
      const receipt = this.receiptOf(set, decision, 'release');
      if (receipt === undefined || receipt.released) return RELEASED;
      if (this.store.refund === undefined) throw missing('refund');
      receipt.released = true; // before the store answers: two releases at once free once
      receipt.tellRelease();
      return this.store.refund(receipt.holdings(true));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private receiptOf(set: LimitSet, decision: RateLimitDecision, use: string): Receipt | undefined {
    const receipt = (decision as Receipted)[RECEIPT];
    if (receipt !== undefined && (receipt.engine !== this || receipt.set !== set)) {
      throw new RateLimitConfigError(`${use}: this decision was made for another limit set`);
    }
    return receipt;
  }

  /**
   * What the built-in limits would decide for this call now, consuming nothing; `remaining` is
   * what is left before the call. Custom limiters cannot be asked without consuming: not consulted.
   */
  async peek(set: LimitSet, context: RateLimitContext): Promise<RateLimitDecision> {
    const store = this.store;
    if (store.peek === undefined) throw missing('peek');
    const checks = this.checksOf(set, context.subject, context);
    return decisionOf(checks, await store.peek(checks), NO_RESULTS, false);
  }

  /**
   * Forgets the state of `subject` in every built-in limit of the set: it starts afresh. `subject`
   * is what the limits are keyed by (for a limit with its own `key`, the value that returns). Given
   * a call's context instead, each limit is reset at the key that call would use: the subject's for
   * most, `key(context)` for a limit with its own, never one limit at another's key (another
   * caller's counter). Refunds of calls admitted before it give nothing back to the built-in limits.
   */
  async reset(set: LimitSet, subject: string | RateLimitContext): Promise<void> {
    const store = this.store;
    if (store.reset === undefined) throw missing('reset');
    const checks =
      typeof subject === 'string'
        ? this.checksOf(set, subject, undefined)
        : this.checksOf(set, subject.subject, subject, false);
    this.resets++;
    await store.reset(checks.map((check) => check.key));
  }

  /** Built-in limits alone on an asynchronous store (Redis), per call: a promise chain, no async frame. */
  private decideBuiltIns(set: LimitSet, context: RateLimitContext): Promise<RateLimitDecision> {
    let checks: Check[], answer: Promise<readonly LimitOutcome[]>;
    try {
      checks = this.checksOf(set, context.subject, context);
      answer = this.store.evaluate(checks);
    } catch (error) {
      return Promise.reject(error); // an asynchronous decision fails as a rejection, like evaluate()
    }
    return answer.then((outcomes) => {
      const decision = decisionOf(checks, outcomes, NO_RESULTS, true);
      return this.receipted(set, context, checks, outcomes, decision);
    });
  }

  private async decideWithCustoms(
    set: LimitSet,
    context: RateLimitContext,
  ): Promise<RateLimitDecision> {
    // Keys and costs first: a throwing key() or a bad cost must fail before any custom limiter
    // has taken anything.
    const checks = this.checksOf(set, context.subject, context);
    const customResults: LimitResult[] = [];
    let admitted = 0; // custom limiters holding quota for this call
    let outcomes: readonly LimitOutcome[] = [];
    let decision: RateLimitDecision;
    try {
      for (const limiter of set.customs) {
        const result = toLimitResult(limiter, await limiter.consume(context));
        customResults.push(result);
        if (!result.allowed) break;
        admitted++;
      }
      if (admitted < set.customs.length) {
        decision = denial(customResults, customResults[customResults.length - 1]);
      } else if (set.builtIns.length === 0) {
        decision = admission(customResults);
      } else {
        outcomes = await this.store.evaluate(checks);
        decision = decisionOf(checks, outcomes, customResults, true);
      }
    } catch (error) {
      // Whatever failed, the call is not made: the custom limiters give back what they took. The
      // caller sees what failed the call, not a refund that failed after it.
      await refundCustoms(set.customs, admitted, context).catch(() => undefined);
      throw error;
    }
    if (!decision.allowed) {
      await refundCustoms(set.customs, admitted, context);
      return decision;
    }
    return this.receipted(set, context, checks, outcomes, decision);
  }

  /** `decision`; when admitted, with a receipt to refund it by. */
  private receipted(
    set: LimitSet,
    context: RateLimitContext,
    checks: readonly Check[],
    outcomes: readonly LimitOutcome[],
    decision: RateLimitDecision,
  ): RateLimitDecision {
    if (decision.allowed) {
      const receipt = new Receipt(this, set, context, checks, outcomes, this.resets);
      (decision as Receipted)[RECEIPT] = receipt;
    }
    return decision;
  }

  /**
   * One check per built-in limit: its key (`<prefix>{<subject>}<suffix>`), its cost. Without a
   * context (a reset), every limit is keyed by `subject` and costs nothing; nor does it without
   * `costs` (a reset of the keys a call would use).
   */
  private checksOf(
    set: LimitSet,
    subject: string,
    context: RateLimitContext | undefined,
    costs = true,
  ): Check[] {
    const spaces = set.spacesUnder(this.prefix);
    const checks = new Array<Check>(set.builtIns.length); // at its length, as every array per call
    for (let index = 0; index < set.builtIns.length; index++) {
      const { limit, keySuffix } = set.builtIns[index];
      const keyedBy = context === undefined ? subject : subjectOf(limit, context);
      const cost = context === undefined || !costs ? 0 : limit.costOf(context);
      checks[index] = new Check(limit, cost, spaces[index], keyedBy, this.prefix, keySuffix);
    }
    return checks;
  }
}

function missing(method: string): RateLimitConfigError {
  return new RateLimitConfigError(`the rate-limit store has no ${method}(); this needs one`);
}

/** The subject a limit is keyed by: the call's, or what its `key(context)` says. */
function subjectOf(limit: BuiltInRateLimit, context: RateLimitContext): string {
  const subject = limit.key === undefined ? context.subject : limit.key(context);
  if (typeof subject !== 'string') {
    throw new TypeError(
      `${limit.describe()}: key(context) must return a string (got ${typeof subject})`,
    );
  }
  return subject;
}

/**
 * `refund(context)` of the first `admittedCount` custom limiters, in declared order. Every one is
 * asked even when an earlier one throws: one limiter's failing refund must not keep the quota the
 * others took. Rejects with the first failure once all were asked.
 */
async function refundCustoms(
  customs: readonly McpRateLimiter[],
  admittedCount: number,
  context: RateLimitContext,
): Promise<void> {
  let failure: { readonly error: unknown } | undefined;
  for (let index = 0; index < admittedCount; index++) {
    try {
      await customs[index].refund?.(context);
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure !== undefined) throw failure.error;
}

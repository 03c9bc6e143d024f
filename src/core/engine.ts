import {
  describeValue,
  isProtocolLimiter,
  type McpRateLimiter,
  type RateLimitContext,
} from './context.js';
import {
  admission,
  decisionOf,
  denial,
  toLimitResult,
  type Limiter,
  type LimitResult,
  type RateLimitDecision,
} from './decision.js';
import { BuiltInRateLimit, RateLimitConfigError } from './limits.js';
import type { LimitCheck, RateLimitStore } from './stores/store.js';
import { encodeKeyPart } from './subject.js';

export { toRetryAfterSeconds } from './decision.js';
export type { Limiter, LimitResult, RateLimitDecision } from './decision.js';

const NO_RESULTS: readonly LimitResult[] = [];

/** A built-in limit ready to be keyed: the scope part of its keys is computed once. */
interface PreparedLimit {
  readonly limit: BuiltInRateLimit;
  /** `<h or n><encoded scope or namespace><limit id>`: everything of the key after the subject. */
  readonly keySuffix: string;
}

/**
 * The limiters of one handler (or one `createRateLimiter`), validated and sorted once: built-in
 * limits (evaluated together, atomically) and custom ones (in declared order, before them).
 */
export class LimitSet {
  readonly builtIns: readonly PreparedLimit[];
  readonly customs: readonly McpRateLimiter[];
  // The key spaces of the last prefix asked for: the same strings on every call, so a store that
  // looks them up hashes them once.
  private spacesPrefix: string | undefined;
  private spaces: readonly string[] = [];

  /**
   * @param limiters the limiters, in declared order.
   * @param scope what this set limits (e.g. `tools/call:search`): limits without a namespace get
   *   counters of their own per scope.
   * @param owner named in error messages, e.g. `SearchTools.search`.
   */
  constructor(
    readonly limiters: readonly Limiter[],
    readonly scope: string,
    owner = 'rate limiter',
  ) {
    if (!Array.isArray(limiters)) {
      throw new RateLimitConfigError(`${owner}: limits must be an array of limiters`);
    }
    const builtIns: PreparedLimit[] = [];
    const customs: McpRateLimiter[] = [];
    const seen = new Map<string, number>();
    limiters.forEach((limiter, index) => {
      if (limiter instanceof BuiltInRateLimit) {
        const where =
          limiter.namespace === undefined
            ? `h${encodeKeyPart(scope)}`
            : `n${encodeKeyPart(limiter.namespace)}`;
        const base = `${where}${limiter.id}`;
        // The same limit twice on one handler would otherwise share (and double-count) one key.
        const occurrence = seen.get(base) ?? 0;
        seen.set(base, occurrence + 1);
        builtIns.push({
          limit: limiter,
          keySuffix: occurrence === 0 ? base : `${base}#${occurrence}`,
        });
      } else if (isProtocolLimiter(limiter)) {
        customs.push(limiter);
      } else {
        throw new RateLimitConfigError(
          `${owner}: limit #${index + 1} is neither a built-in limit nor an object with consume(context) (got ${describeValue(limiter)})`,
        );
      }
    });
    this.builtIns = builtIns;
    this.customs = customs;
  }

  /** Every built-in limit's key without its subject part, under `prefix`: `<prefix><suffix>`. */
  spacesUnder(prefix: string): readonly string[] {
    if (prefix !== this.spacesPrefix) {
      this.spaces = this.builtIns.map(({ keySuffix }) => `${prefix}${keySuffix}`);
      this.spacesPrefix = prefix;
    }
    return this.spaces;
  }
}

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

  constructor(
    readonly store: RateLimitStore,
    options: RateLimitEngineOptions = {},
  ) {
    this.prefix = options.prefix ?? 'mcprl:';
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
      return decisionOf(checks, this.store.evaluateNow(checks), NO_RESULTS, true);
    }
    return this.decideWithCustoms(set, context);
  }

  /**
   * Gives back what an admitted call with this context took: its cost to every built-in limit
   * (`store.refund`; a window that has rolled over gets nothing back) and `refund(context)` of
   * every custom limiter. For a call that failed in a way its caller should not pay for.
   */
  async refund(set: LimitSet, context: RateLimitContext): Promise<void> {
    if (set.builtIns.length !== 0) {
      const store = this.store;
      if (store.refund === undefined) throw missing('refund');
      await store.refund(this.checksOf(set, context.subject, context));
    }
    for (const limiter of set.customs) await limiter.refund?.(context);
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
   * is what the limits are keyed by (for a limit with its own `key`, the value that returns).
   */
  async reset(set: LimitSet, subject: string): Promise<void> {
    const store = this.store;
    if (store.reset === undefined) throw missing('reset');
    await store.reset(this.checksOf(set, subject, undefined).map((check) => check.key));
  }

  private async decideWithCustoms(
    set: LimitSet,
    context: RateLimitContext,
  ): Promise<RateLimitDecision> {
    const customResults: LimitResult[] = [];
    for (let index = 0; index < set.customs.length; index++) {
      const limiter = set.customs[index];
      const result = toLimitResult(limiter, await limiter.consume(context));
      customResults.push(result);
      if (!result.allowed) {
        await refundCustoms(set.customs, index, context);
        return denial(customResults, result);
      }
    }
    if (set.builtIns.length === 0) return admission(customResults);

    const checks = this.checksOf(set, context.subject, context);
    const decision = decisionOf(checks, await this.store.evaluate(checks), customResults, true);
    if (!decision.allowed) await refundCustoms(set.customs, set.customs.length, context);
    return decision;
  }

  /**
   * One check per built-in limit: its key (`<prefix>{<subject>}<suffix>`), its cost. Without a
   * context (a reset), every limit is keyed by `subject` and costs nothing.
   */
  private checksOf(
    set: LimitSet,
    subject: string,
    context: RateLimitContext | undefined,
  ): LimitCheck[] {
    const spaces = set.spacesUnder(this.prefix);
    const checks = new Array<LimitCheck>(set.builtIns.length); // at its length, as every array per call
    for (let index = 0; index < set.builtIns.length; index++) {
      const { limit, keySuffix } = set.builtIns[index];
      const keyedBy = context === undefined ? subject : subjectOf(limit, context);
      const cost = context === undefined ? 0 : limit.costOf(context);
      checks[index] = new Check(limit, cost, spaces[index], keyedBy, this.prefix, keySuffix);
    }
    return checks;
  }
}

/**
 * A check whose storage key, `<prefix>{<encoded subject>}<suffix>`, is made when a store first
 * reads it: the MemoryStore goes by space and subject and never does, which spares an in-memory
 * call the encoding and the string.
 */
class Check implements LimitCheck {
  private madeKey: string | undefined;

  constructor(
    readonly limit: BuiltInRateLimit,
    readonly cost: number,
    readonly space: string,
    readonly subject: string,
    private readonly prefix: string,
    private readonly keySuffix: string,
  ) {}

  get key(): string {
    this.madeKey ??= `${this.prefix}{${encodeKeyPart(this.subject)}}${this.keySuffix}`;
    return this.madeKey;
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

async function refundCustoms(
  customs: readonly McpRateLimiter[],
  admittedCount: number,
  context: RateLimitContext,
): Promise<void> {
  for (let index = 0; index < admittedCount; index++) await customs[index].refund?.(context);
}

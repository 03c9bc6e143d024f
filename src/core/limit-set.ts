import { describeValue, isProtocolLimiter, type McpRateLimiter } from './context.js';
import type { Limiter } from './decision.js';
import { BuiltInRateLimit, RateLimitConfigError } from './limits.js';
import { otherCopyOf, THIS_COPY, twoCopiesError } from './package-copy.js';
import { encodeKeyPart } from './subject.js';

/**
 * Whether a limiter's calls hold what they take until they are released (a `ConcurrencyLimit`'s
 * slots), rather than spending it.
 */
export function holdsSlots(limiter: unknown): boolean {
  return limiter instanceof BuiltInRateLimit && limiter.algorithm === 'concurrency';
}

/** A built-in limit ready to be keyed: the scope part of its keys is computed once. */
export interface PreparedLimit {
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
  /** Whether a call admitted here holds slots of a `ConcurrencyLimit` until it is released. */
  readonly holdsSlots: boolean;
  // The key spaces of the last prefix asked for: the same strings on every call, so a store that
  // looks them up hashes them once.
  private spacesPrefix: string | undefined;
  private spaces: readonly string[] = [];
  private slots: LimitSet | undefined;

  /**
   * @param limiters the limiters, in declared order.
   * @param scope what this set limits (e.g. `tools/call:search`): limits without a namespace get
   *   counters of their own per scope.
   * @param owner named in error messages, e.g. `SearchTools.search`.
   * @throws RateLimitConfigError when a limiter is neither built-in nor custom, or when two limits
   *   of the same settings share a namespace in this set.
   */
  constructor(
    readonly limiters: readonly Limiter[],
    readonly scope: string,
    private readonly owner = 'rate limiter',
  ) {
    if (!Array.isArray(limiters)) {
      throw new RateLimitConfigError(`${owner}: limits must be an array of limiters`);
    }
    const builtIns: PreparedLimit[] = [];
    const customs: McpRateLimiter[] = [];
    const seen = new Map<string, { limit: BuiltInRateLimit; count: number }>();
    limiters.forEach((limiter, index) => {
      if (limiter instanceof BuiltInRateLimit) {
        if (typeof limiter.cost === 'number' && limiter.cost > limiter.policy.quota) {
          // No window would ever admit a call of this limit: every call would be refused.
          throw new RateLimitConfigError(
            `${owner}: ${limiter.describe()} (limit #${index + 1}) has a cost of ${limiter.cost}, more than its whole quota of ${limiter.policy.quota}: it would refuse every call`,
          );
        }
        const where =
          limiter.namespace === undefined
            ? `h${encodeKeyPart(scope)}`
            : `n${encodeKeyPart(limiter.namespace)}`;
        const base = `${where}${limiter.id}`;
        const earlier = seen.get(base);
        if (earlier !== undefined && limiter.namespace !== undefined) {
          // A namespaced key must be the same in every handler that shares the namespace, so it
          // cannot say which of two alike limits of this set it is.
          throw new RateLimitConfigError(
            `${owner}: ${earlier.limit.describe()} and ${limiter.describe()} (limit #${index + 1}) have the same settings in namespace "${limiter.namespace}", so they would share one counter; give one of them another namespace`,
          );
        }
        // The same limit twice on one handler would otherwise share (and double-count) one key;
        // without a namespace its keys are this handler's own, so the position may tell them apart.
        const count = earlier?.count ?? 0;
        seen.set(base, { limit: limiter, count: count + 1 });
        builtIns.push({ limit: limiter, keySuffix: count === 0 ? base : `${base}#${count}` });
      } else if (isProtocolLimiter(limiter)) {
        customs.push(limiter);
      } else {
        const other = otherCopyOf(limiter);
        if (other !== undefined) {
          throw twoCopiesError(
            `${owner}: limit #${index + 1} (${describeValue(limiter)})`,
            other,
            THIS_COPY,
          );
        }
        throw new RateLimitConfigError(
          `${owner}: limit #${index + 1} is neither a built-in limit nor an object with consume(context) (got ${describeValue(limiter)})`,
        );
      }
    });
    this.builtIns = builtIns;
    this.customs = customs;
    this.holdsSlots = builtIns.some(({ limit }) => holdsSlots(limit));
  }

  /**
   * This set's `ConcurrencyLimit`s alone, each with the same key as here (same scope, same order),
   * or undefined when it has none: what the retry of a multi round-trip call takes again.
   */
  slotsOnly(): LimitSet | undefined {
    if (!this.holdsSlots) return undefined;
    this.slots ??= new LimitSet(this.limiters.filter(holdsSlots), this.scope, this.owner);
    return this.slots;
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

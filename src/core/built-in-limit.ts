// The base of every built-in limit: validated settings, the cost of a call, and the algorithm it
// runs on a stored state. The limit classes themselves are in limits.ts.
import type { ConcurrencyParams } from './algorithms/concurrency.js';
import type { FixedWindowParams } from './algorithms/fixed-window.js';
import type { GcraParams } from './algorithms/gcra.js';
import type { SlidingWindowParams } from './algorithms/sliding-window.js';
import type { TokenBucketParams } from './algorithms/token-bucket.js';
import type { AlgorithmName, AlgorithmStep, RefundStep } from './algorithms/types.js';
import type { RateLimitContext } from './context.js';
import { checkCost, checkNumber, RateLimitConfigError, type FieldCheck } from './config-checks.js';
import type { CommonLimitOptions, LimitPolicy } from './limit-options.js';
import { markCopy } from './package-copy.js';

/**
 * The parameters of any built-in algorithm, in milliseconds. Each is a type alias, not an
 * interface, so that a store may read it as a record of numbers (the Redis store passes them on).
 */
export type AlgorithmParams =
  FixedWindowParams | SlidingWindowParams | TokenBucketParams | GcraParams | ConcurrencyParams;

/**
 * A declarative, validated description of one built-in limit. Its state lives in the store; the
 * instance is shared by every call that uses it.
 */
export abstract class BuiltInRateLimit {
  abstract readonly algorithm: AlgorithmName;
  /** The algorithm's parameters, in milliseconds (typed by `algorithm` on {@link RateLimitRule}). */
  abstract readonly params: AlgorithmParams;
  /** Stable identity of the settings, part of every storage key of this limit. */
  abstract readonly id: string;
  /** Quota and window for headers. */
  abstract readonly policy: LimitPolicy;

  readonly namespace: string | undefined;
  readonly key: ((context: RateLimitContext) => string) | undefined;
  readonly cost: number | ((context: RateLimitContext) => number) | undefined;
  /** Whether a call's cost against this limit must be a whole number. */
  private readonly integerCost: boolean;
  /** Named in cost errors; kept, since reading `this.constructor.name` per call is slow. */
  private readonly className: string;

  protected constructor(
    options: CommonLimitOptions,
    fields: Readonly<Record<string, FieldCheck>>,
    integerCost: boolean,
    optionalFields: Readonly<Record<string, FieldCheck>> = {},
  ) {
    const className = new.target.name;
    if (options === null || typeof options !== 'object') {
      throw new RateLimitConfigError(`${className}: options must be an object`);
    }
    const known = new Set([
      ...Object.keys(fields),
      ...Object.keys(optionalFields),
      'namespace',
      'key',
      'cost',
    ]);
    for (const field of Object.keys(options)) {
      if (!known.has(field)) {
        throw new RateLimitConfigError(
          `${className}: unknown option "${field}" (expected ${[...known].join(', ')})`,
        );
      }
    }
    const record = options as unknown as Record<string, unknown>;
    for (const [field, check] of Object.entries(fields)) {
      checkNumber(className, field, record[field], check);
    }
    for (const [field, check] of Object.entries(optionalFields)) {
      if (record[field] !== undefined) checkNumber(className, field, record[field], check);
    }
    if (options.namespace !== undefined) {
      if (typeof options.namespace !== 'string' || options.namespace.length === 0) {
        throw new RateLimitConfigError(`${className}: "namespace" must be a non-empty string`);
      }
    }
    if (options.key !== undefined && typeof options.key !== 'function') {
      throw new RateLimitConfigError(`${className}: "key" must be a function (context) => string`);
    }
    if (options.cost !== undefined && typeof options.cost !== 'function') {
      checkCost(className, options.cost, integerCost);
    }
    this.namespace = options.namespace;
    this.key = options.key;
    this.cost = options.cost;
    this.integerCost = integerCost;
    this.className = className;
  }

  /** The cost of this call against this limit, validated: a bad cost never bypasses a limit. */
  costOf(context: RateLimitContext): number {
    const option = this.cost;
    // The usual cost of 1 is valid for every limit: no validation on the hot path.
    if (option === undefined && context.cost === 1) return 1;
    const cost =
      option === undefined ? context.cost : typeof option === 'number' ? option : option(context);
    if (typeof option !== 'number') checkCost(this.className, cost, this.integerCost);
    return cost;
  }

  /** A short human description, e.g. `FixedWindowRateLimit(5 per 10s)`. */
  abstract describe(): string;

  /**
   * One decision of this limit's algorithm on a stored state (undefined: none). Stores that run
   * the algorithms in process call it; the state is whatever an earlier step or refund returned.
   */
  abstract evaluateState(state: unknown, nowMs: number, cost: number): AlgorithmStep<unknown>;

  /**
   * Gives back to a stored state what a call of `cost` admitted at `admittedAtMs` still holds (see
   * the algorithm's refund); undefined: leave it as is.
   */
  abstract refundState(
    state: unknown,
    nowMs: number,
    cost: number,
    admittedAtMs: number,
  ): RefundStep<unknown> | undefined;
}

// A limit of another loaded copy of the package is refused by name (package-copy.ts).
markCopy(BuiltInRateLimit.prototype);

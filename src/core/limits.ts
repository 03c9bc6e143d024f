import {
  fixedWindow,
  refundFixedWindow,
  type FixedWindowParams,
  type FixedWindowState,
} from './algorithms/fixed-window.js';
import { gcra, refundGcra, type GcraParams, type GcraState } from './algorithms/gcra.js';
import {
  MAX_SLIDING_WINDOW_CALLS,
  refundSlidingWindow,
  slidingWindow,
  type SlidingWindowParams,
  type SlidingWindowState,
} from './algorithms/sliding-window.js';
import {
  refundTokenBucket,
  tokenBucket,
  type TokenBucketParams,
  type TokenBucketState,
} from './algorithms/token-bucket.js';
import {
  EPSILON_MS,
  type AlgorithmName,
  type AlgorithmStep,
  type RefundStep,
} from './algorithms/types.js';
import type { RateLimitContext } from './context.js';
import {
  checkCost,
  checkMs,
  checkNumber,
  RateLimitConfigError,
  type FieldCheck,
} from './config-checks.js';

export { RateLimitConfigError } from './config-checks.js';

/**
 * The parameters of any built-in algorithm, in milliseconds. Each is a type alias, not an
 * interface, so that a store may read it as a record of numbers (the Redis store passes them on).
 */
export type AlgorithmParams =
  FixedWindowParams | SlidingWindowParams | TokenBucketParams | GcraParams;

/** Options every built-in limit accepts. */
export interface CommonLimitOptions {
  /**
   * Share this limit's counters with every other limit of the same namespace (and the same
   * settings), across handlers. Without it each handler has its own counters.
   */
  readonly namespace?: string;
  /**
   * Key the limit by something else than the call's subject, e.g. an organisation id. In a
   * namespace the value meets the subjects of the other limits there: make it say what it is
   * (`org:${id}`).
   */
  readonly key?: (context: RateLimitContext) => string;
  /** What one call costs against this limit (default: the call's own cost, usually 1). */
  readonly cost?: number | ((context: RateLimitContext) => number);
}

export interface FixedWindowOptions extends CommonLimitOptions {
  /** Calls (cost units) admitted per window. A positive integer. */
  readonly maxCalls: number;
  /** Window length in seconds; windows are aligned to the clock. */
  readonly perSeconds: number;
}

export interface SlidingWindowOptions extends CommonLimitOptions {
  /** Calls (cost units) admitted in any rolling interval of `perSeconds`. A positive integer. */
  readonly maxCalls: number;
  readonly perSeconds: number;
}

export interface TokenBucketOptions extends CommonLimitOptions {
  /** Tokens a full bucket holds: the largest burst. */
  readonly capacity: number;
  /** Tokens added per second (fractions allowed). */
  readonly refillPerSecond: number;
}

export interface GcraOptions extends CommonLimitOptions {
  /** Steady rate in calls per second (fractions allowed). */
  readonly ratePerSecond: number;
  /** Calls that may arrive at once. A positive integer. */
  readonly burst: number;
}

/** What the RateLimit-Policy header says of a limit: quota `q` per window `w` seconds. */
export interface LimitPolicy {
  readonly quota: number;
  readonly windowSeconds: number;
}

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
  ) {
    const className = new.target.name;
    if (options === null || typeof options !== 'object') {
      throw new RateLimitConfigError(`${className}: options must be an object`);
    }
    const known = new Set([...Object.keys(fields), 'namespace', 'key', 'cost']);
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

/**
 * Every built-in limit class. Switching on `algorithm` types `params`, e.g.
 * `if (limit.algorithm === 'gcra') limit.params.burst`.
 */
export type RateLimitRule =
  FixedWindowRateLimit | SlidingWindowRateLimit | TokenBucketRateLimit | GcraRateLimit;

/** At most `maxCalls` per clock-aligned window of `perSeconds`. Cheapest; allows 2× at a boundary. */
export class FixedWindowRateLimit extends BuiltInRateLimit {
  readonly algorithm = 'fixed-window' as const;
  readonly params: FixedWindowParams;
  readonly id: string;
  readonly policy: LimitPolicy;

  constructor(options: FixedWindowOptions) {
    super(options, { maxCalls: 'positiveInteger', perSeconds: 'positiveNumber' }, true);
    const periodMs = checkMs('FixedWindowRateLimit', '"perSeconds"', options.perSeconds * 1000);
    this.params = { limit: options.maxCalls, periodMs };
    this.id = `fw:${options.maxCalls}:${this.params.periodMs}`;
    this.policy = { quota: options.maxCalls, windowSeconds: options.perSeconds };
  }

  evaluateState(state: unknown, nowMs: number, cost: number): AlgorithmStep<unknown> {
    return fixedWindow(state as FixedWindowState | undefined, nowMs, this.params, cost);
  }

  refundState(
    state: unknown,
    nowMs: number,
    cost: number,
    admittedAtMs: number,
  ): RefundStep<unknown> | undefined {
    return refundFixedWindow(
      state as FixedWindowState | undefined,
      nowMs,
      this.params,
      cost,
      admittedAtMs,
    );
  }

  describe(): string {
    return `FixedWindowRateLimit(${this.policy.quota} per ${this.policy.windowSeconds}s)`;
  }
}

/** Never more than `maxCalls` in any rolling interval of `perSeconds`. State grows with maxCalls. */
export class SlidingWindowRateLimit extends BuiltInRateLimit {
  readonly algorithm = 'sliding-window' as const;
  readonly params: SlidingWindowParams;
  readonly id: string;
  readonly policy: LimitPolicy;

  constructor(options: SlidingWindowOptions) {
    super(options, { maxCalls: 'positiveInteger', perSeconds: 'positiveNumber' }, true);
    if (options.maxCalls > MAX_SLIDING_WINDOW_CALLS) {
      // Its state holds one time per admitted unit, copied on every call (and so does Redis's).
      throw new RateLimitConfigError(
        `SlidingWindowRateLimit: "maxCalls" must be at most ${MAX_SLIDING_WINDOW_CALLS} (got ${options.maxCalls}); for larger quotas use GcraRateLimit or TokenBucketRateLimit, whose state is one number whatever the quota`,
      );
    }
    const periodMs = checkMs('SlidingWindowRateLimit', '"perSeconds"', options.perSeconds * 1000);
    this.params = { limit: options.maxCalls, periodMs };
    this.id = `sw:${options.maxCalls}:${this.params.periodMs}`;
    this.policy = { quota: options.maxCalls, windowSeconds: options.perSeconds };
  }

  evaluateState(state: unknown, nowMs: number, cost: number): AlgorithmStep<unknown> {
    return slidingWindow(state as SlidingWindowState | undefined, nowMs, this.params, cost);
  }

  refundState(
    state: unknown,
    nowMs: number,
    cost: number,
    admittedAtMs: number,
  ): RefundStep<unknown> | undefined {
    return refundSlidingWindow(
      state as SlidingWindowState | undefined,
      nowMs,
      this.params,
      cost,
      admittedAtMs,
    );
  }

  describe(): string {
    return `SlidingWindowRateLimit(${this.policy.quota} per ${this.policy.windowSeconds}s)`;
  }
}

/** A full bucket absorbs a burst of `capacity`; then `refillPerSecond` calls per second. */
export class TokenBucketRateLimit extends BuiltInRateLimit {
  readonly algorithm = 'token-bucket' as const;
  readonly params: TokenBucketParams;
  readonly id: string;
  readonly policy: LimitPolicy;

  constructor(options: TokenBucketOptions) {
    super(options, { capacity: 'positiveNumber', refillPerSecond: 'positiveNumber' }, false);
    const { capacity, refillPerSecond } = options;
    checkMs('TokenBucketRateLimit', 'refilling "capacity"', (capacity * 1000) / refillPerSecond);
    this.params = { capacity: options.capacity, refillPerSecond: options.refillPerSecond };
    this.id = `tb:${options.capacity}:${options.refillPerSecond}`;
    this.policy = {
      quota: options.capacity,
      windowSeconds: options.capacity / options.refillPerSecond,
    };
  }

  evaluateState(state: unknown, nowMs: number, cost: number): AlgorithmStep<unknown> {
    return tokenBucket(state as TokenBucketState | undefined, nowMs, this.params, cost);
  }

  refundState(
    state: unknown,
    nowMs: number,
    cost: number,
    admittedAtMs: number,
  ): RefundStep<unknown> | undefined {
    return refundTokenBucket(
      state as TokenBucketState | undefined,
      nowMs,
      this.params,
      cost,
      admittedAtMs,
    );
  }

  describe(): string {
    return `TokenBucketRateLimit(capacity ${this.params.capacity}, ${this.params.refillPerSecond}/s)`;
  }
}

/** GCRA: `burst` calls at once, then one every `1 / ratePerSecond` seconds. One timestamp per key. */
export class GcraRateLimit extends BuiltInRateLimit {
  readonly algorithm = 'gcra' as const;
  readonly params: GcraParams;
  readonly id: string;
  readonly policy: LimitPolicy;

  constructor(options: GcraOptions) {
    super(options, { ratePerSecond: 'positiveNumber', burst: 'positiveInteger' }, false);
    const emissionIntervalMs = 1000 / options.ratePerSecond;
    checkMs('GcraRateLimit', '"burst" / "ratePerSecond"', options.burst * emissionIntervalMs);
    if (emissionIntervalMs < EPSILON_MS) {
      throw new RateLimitConfigError(
        `GcraRateLimit: "ratePerSecond" must be at most 1000000 (got ${options.ratePerSecond}): the arrival time it keeps has microsecond precision`,
      );
    }
    this.params = { emissionIntervalMs, burst: options.burst };
    if (typeof options.cost === 'number') this.checkIncrement(options.cost);
    this.id = `gcra:${options.ratePerSecond}:${options.burst}`;
    this.policy = { quota: options.burst, windowSeconds: options.burst / options.ratePerSecond };
  }

  override costOf(context: RateLimitContext): number {
    return this.checkIncrement(super.costOf(context));
  }

  /**
   * The arrival time is an epoch time in milliseconds, precise to about 0.25 µs: a cost that moves
   * it by less than 1 µs would be rounded away and admitted for free, so it is refused.
   */
  private checkIncrement(cost: number): number {
    if (cost > 0 && cost * this.params.emissionIntervalMs < EPSILON_MS) {
      throw new RateLimitConfigError(
        `GcraRateLimit: "cost" ${cost} is too small to count at ${1000 / this.params.emissionIntervalMs}/s (it must take at least 1 µs of the rate, cost >= ${EPSILON_MS / this.params.emissionIntervalMs})`,
      );
    }
    return cost;
  }

  evaluateState(state: unknown, nowMs: number, cost: number): AlgorithmStep<unknown> {
    return gcra(state as GcraState | undefined, nowMs, this.params, cost);
  }

  refundState(
    state: unknown,
    nowMs: number,
    cost: number,
    admittedAtMs: number,
  ): RefundStep<unknown> | undefined {
    return refundGcra(state as GcraState | undefined, nowMs, this.params, cost, admittedAtMs);
  }

  describe(): string {
    return `GcraRateLimit(${this.params.burst} burst, ${1000 / this.params.emissionIntervalMs}/s)`;
  }
}

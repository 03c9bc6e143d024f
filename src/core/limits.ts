import {
  concurrency,
  MAX_CONCURRENT_CALLS,
  releaseConcurrency,
  type ConcurrencyParams,
  type ConcurrencyState,
} from './algorithms/concurrency.js';
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
import { EPSILON_MS, type AlgorithmStep, type RefundStep } from './algorithms/types.js';
import { BuiltInRateLimit } from './built-in-limit.js';
import type { RateLimitContext } from './context.js';
import { checkMs, RateLimitConfigError } from './config-checks.js';
import type {
  ConcurrencyLimitOptions,
  FixedWindowOptions,
  GcraOptions,
  LimitPolicy,
  SlidingWindowOptions,
  TokenBucketOptions,
} from './limit-options.js';

export { BuiltInRateLimit, type AlgorithmParams } from './built-in-limit.js';
export { RateLimitConfigError } from './config-checks.js';
export type {
  CommonLimitOptions,
  ConcurrencyLimitOptions,
  FixedWindowOptions,
  GcraOptions,
  LimitPolicy,
  SlidingWindowOptions,
  TokenBucketOptions,
} from './limit-options.js';

/**
 * Every built-in limit class. Switching on `algorithm` types `params`, e.g.
 * `if (limit.algorithm === 'gcra') limit.params.burst`.
 */
export type RateLimitRule =
  | FixedWindowRateLimit
  | SlidingWindowRateLimit
  | TokenBucketRateLimit
  | GcraRateLimit
  | ConcurrencyLimit;

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
    if (typeof options.cost === 'number') this.checkIncrement(options.cost);
    this.id = `tb:${options.capacity}:${options.refillPerSecond}`;
    this.policy = {
      quota: options.capacity,
      windowSeconds: options.capacity / options.refillPerSecond,
    };
  }

  override costOf(context: RateLimitContext): number {
    const cost = super.costOf(context);
    return cost === 1 ? cost : this.checkIncrement(cost);
  }

  /**
   * A cost below 1 µs of refill is refused, as GCRA's: it is within the slack an early call is
   * admitted by, and, below the precision of the tokens (a cost of 1e-300 off 3 tokens leaves 3),
   * it would take nothing: calls without end.
   */
  private checkIncrement(cost: number): number {
    const { refillPerSecond } = this.params;
    if (cost > 0 && (cost * 1000) / refillPerSecond < EPSILON_MS) {
      throw new RateLimitConfigError(
        `TokenBucketRateLimit: "cost" ${cost} is too small to count at ${refillPerSecond}/s (it must take at least 1 µs of the refill, cost >= ${(EPSILON_MS * refillPerSecond) / 1000})`,
      );
    }
    return cost;
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

/** The lease of a concurrency slot when `leaseSeconds` is not given. */
export const DEFAULT_LEASE_SECONDS = 60;
const MAX_LEASE_SECONDS = 86_400;

/**
 * At most `maxConcurrent` calls of one subject in flight at once (per handler, or per
 * `namespace`): a slow tool that must not run many times in parallel for one user. Combined with
 * the other limits of the call like any limit (all admit and commit, or none does).
 *
 * A call holds its slot until it is released: by the Nest interceptor when the handler finishes,
 * fails or stops on cancellation; in `createRateLimiter` by `decision.release()`. A slot is a lease
 * that expires after `leaseSeconds` (default 60 s) even if never released, so an instance that dies
 * mid-call cannot hold it forever. 60 s is the MCP SDK's default request timeout: a call that runs
 * longer has usually been given up by its client, a dead instance's slots come back within a
 * minute, and a denial's `retryAfter` stays within a minute. Raise it for slower tools.
 *
 * A denial's `retryAfter` is when enough leases expire on their own (at least 1 s): the longest the
 * caller can have to wait; a release frees a slot sooner.
 *
 * @example
 * ```ts
 * @Tool({ name: 'render', description: 'Render a report' })
 * @RateLimit(new ConcurrencyLimit({ maxConcurrent: 2 }), new FixedWindowRateLimit({ maxCalls: 60, perSeconds: 3600 }))
 * render() { ... }
 * ```
 */
export class ConcurrencyLimit extends BuiltInRateLimit {
  readonly algorithm = 'concurrency' as const;
  readonly params: ConcurrencyParams;
  readonly id: string;
  readonly policy: LimitPolicy;

  constructor(options: ConcurrencyLimitOptions) {
    super(options, { maxConcurrent: 'positiveInteger' }, true, { leaseSeconds: 'positiveNumber' });
    const { maxConcurrent, leaseSeconds = DEFAULT_LEASE_SECONDS } = options;
    if (maxConcurrent > MAX_CONCURRENT_CALLS) {
      // Its state holds one lease per call in flight, copied on every call (and so does Redis's).
      throw new RateLimitConfigError(
        `ConcurrencyLimit: "maxConcurrent" must be at most ${MAX_CONCURRENT_CALLS} (got ${maxConcurrent})`,
      );
    }
    if (leaseSeconds < 1 || leaseSeconds > MAX_LEASE_SECONDS) {
      // Under 1 s a lease would end before the wire's smallest retryAfter; a day is forever enough.
      throw new RateLimitConfigError(
        `ConcurrencyLimit: "leaseSeconds" must be from 1 to ${MAX_LEASE_SECONDS} (got ${leaseSeconds})`,
      );
    }
    if (typeof options.cost === 'number') slotsTaken(options.cost);
    this.params = { limit: maxConcurrent, leaseMs: leaseSeconds * 1000 };
    this.id = `cc:${maxConcurrent}:${this.params.leaseMs}`;
    this.policy = { quota: maxConcurrent, windowSeconds: leaseSeconds };
  }

  /** One slot per call unless the limit's own `cost` says otherwise (see the option). */
  override costOf(context: RateLimitContext): number {
    return this.cost === undefined ? 1 : slotsTaken(super.costOf(context));
  }

  evaluateState(state: unknown, nowMs: number, cost: number): AlgorithmStep<unknown> {
    return concurrency(state as ConcurrencyState | undefined, nowMs, this.params, cost);
  }

  /** Releases the slots of the call admitted at `admittedAtMs` (see `releaseConcurrency`). */
  refundState(
    state: unknown,
    nowMs: number,
    cost: number,
    admittedAtMs: number,
  ): RefundStep<unknown> | undefined {
    return releaseConcurrency(
      state as ConcurrencyState | undefined,
      nowMs,
      this.params,
      cost,
      admittedAtMs,
    );
  }

  describe(): string {
    return `ConcurrencyLimit(${this.params.limit} in flight, lease ${this.policy.windowSeconds}s)`;
  }
}

/**
 * A call takes at least one slot: a cost of 0 would let a call in flight go uncounted, and a cost
 * function of the client's arguments would then hand out unlimited parallel calls.
 */
function slotsTaken(cost: number): number {
  if (cost < 1) {
    throw new RateLimitConfigError(
      `ConcurrencyLimit: "cost" must take at least one slot (got ${cost})`,
    );
  }
  return cost;
}

// The options of the built-in limits, as users write them (seconds), and what a limit tells the
// RateLimit-Policy header. The classes that validate them are in limits.ts.
import type { RateLimitContext } from './context.js';

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

/** Options of a `FixedWindowRateLimit`: `maxCalls` units per clock-aligned `perSeconds` window. */
export interface FixedWindowOptions extends CommonLimitOptions {
  /** Calls (cost units) admitted per window. A positive integer. */
  readonly maxCalls: number;
  /** Window length in seconds; windows are aligned to the clock. */
  readonly perSeconds: number;
}

/** Options of a `SlidingWindowRateLimit`: `maxCalls` units in any rolling `perSeconds`. */
export interface SlidingWindowOptions extends CommonLimitOptions {
  /** Calls (cost units) admitted in any rolling interval of `perSeconds`. A positive integer. */
  readonly maxCalls: number;
  readonly perSeconds: number;
}

/** Options of a `TokenBucketRateLimit`: a bucket of `capacity` units refilled continuously. */
export interface TokenBucketOptions extends CommonLimitOptions {
  /** Tokens a full bucket holds: the largest burst. */
  readonly capacity: number;
  /** Tokens added per second (fractions allowed). */
  readonly refillPerSecond: number;
}

/** Options of a `GcraRateLimit`: a steady rate with a burst allowance. */
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

/** Options of a `ConcurrencyLimit`: how many calls of one subject may be in flight at once. */
export interface ConcurrencyLimitOptions extends CommonLimitOptions {
  /** Calls of one subject in flight at once. A positive integer. */
  readonly maxConcurrent: number;
  /**
   * The longest a call holds its slot when it is never released (an instance that died mid-call, a
   * `release()` forgotten), in seconds, from 1 to 86 400 (default 60). Set it above the duration
   * of your slowest call: a lease that expires while its call still runs frees the slot early.
   */
  readonly leaseSeconds?: number;
  /**
   * Slots one call takes (default 1, whatever the call's cost against rate limits: a cost weighs
   * work against a rate, a slot is a call in flight). A positive integer, or a function giving one.
   */
  readonly cost?: number | ((context: RateLimitContext) => number);
}

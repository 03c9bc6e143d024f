import { describeValue, type RateLimitContext } from './context.js';
import {
  admittedContext,
  LimitSet,
  RateLimitEngine,
  type Limiter,
  type RateLimitDecision,
} from './engine.js';
import { checkCost, refuseUnknownOptions } from './config-checks.js';
import { RateLimitConfigError } from './limits.js';
import { withOutagePolicy } from './stores/insurance.js';
import type { OutagePolicyOptions } from './stores/outage-policy.js';
import { MemoryStore } from './stores/memory-store.js';
import type { RateLimitStore } from './stores/store.js';

/** Options of `createRateLimiter`. */
export interface CreateRateLimiterOptions extends Omit<OutagePolicyOptions, 'policy'> {
  /** The limits every call must pass (AND-combined). */
  readonly limits: readonly Limiter[];
  /** Where state lives (default: a new MemoryStore). */
  readonly store?: RateLimitStore;
  /** What to do while the store cannot answer (default `insurance`). */
  readonly onStoreError?: OutagePolicyOptions['policy'];
  /**
   * Name of what is limited: limits without a namespace get their own counters per name. Required
   * with an explicit `store`, which other limiters (other processes) may share: two limiters of
   * one name on one store share the counters of their limits of the same settings.
   */
  readonly name?: string;
  /** Prefix of every storage key (default `mcprl:`). */
  readonly prefix?: string;
}

// A record over every key of the options: the compiler keeps the list whole.
const OPTION_NAMES = Object.keys({
  limits: true,
  store: true,
  onStoreError: true,
  name: true,
  prefix: true,
  logger: true,
  logIntervalMs: true,
  retryIntervalMs: true,
  denyRetryAfterMs: true,
  reportStoreError: true,
  clock: true,
} satisfies Record<keyof CreateRateLimiterOptions, true>);

/** What a call of `consume` (or `peek`) may say beyond its subject. */
export interface ConsumeOptions {
  /** What the call costs (default 1). */
  readonly cost?: number;
  /** More of the call, for limits with `key` or `cost` functions and custom limiters. */
  readonly context?: Partial<RateLimitContext>;
}

/** A rate limiter for work outside a Nest handler: a queue consumer, a service method. */
export interface RateLimiter {
  /**
   * Decide (and, when allowed, count) one call of `subject`. With a `ConcurrencyLimit`, an admitted
   * call holds its slots until `decision.release()` (call it in `finally`) or its lease expires.
   */
  consume(subject: string, options?: ConsumeOptions): Promise<RateLimitDecision>;
  /**
   * What `consume` would decide now, counting nothing; `remaining` is what is left before the
   * call. Custom limiters are not consulted (they cannot be asked without consuming).
   */
  peek(subject: string, options?: ConsumeOptions): Promise<RateLimitDecision>;
  /**
   * Give back what the admitted call `decision` (from this limiter's `consume`) still holds, e.g.
   * because the work failed. Once per decision: a second refund, or one of a denied decision, gives
   * back nothing; so does a built-in limit after a reset since the call, or once the call's units
   * have come back on their own (a window rolled over, the refill). Rate limits only: a refund
   * frees no `ConcurrencyLimit` slot, `decision.release()` does (a failed call may need both).
   */
  refund(decision: RateLimitDecision): Promise<void>;
  /** `subject` starts afresh in every built-in limit of this limiter (e.g. after a plan upgrade). */
  reset(subject: string): Promise<void>;
  readonly engine: RateLimitEngine;
}

/**
 * Create a rate limiter from limits and a store. The Nest guard uses the same engine.
 *
 * @example
 * const limiter = createRateLimiter({ limits: [new FixedWindowRateLimit({ maxCalls: 10, perSeconds: 60 })] });
 * const decision = await limiter.consume(`user:${userId}`);
 * if (!decision.allowed) throw new Error(`retry in ${decision.retryAfter}s`);
 *
 * @example
 * // At most 2 exports of one user at once, and 100 an hour.
 * const exports = createRateLimiter({
 *   limits: [new ConcurrencyLimit({ maxConcurrent: 2 }), new FixedWindowRateLimit({ maxCalls: 100, perSeconds: 3600 })],
 * });
 * const decision = await exports.consume(`user:${userId}`);
 * if (!decision.allowed) throw new Error(`retry in ${decision.retryAfter}s`);
 * try {
 *   await runExport();
 * } finally {
 *   await decision.release();
 * }
 */
export function createRateLimiter(options: CreateRateLimiterOptions): RateLimiter {
  if (options === null || typeof options !== 'object') {
    throw new RateLimitConfigError('createRateLimiter: options must be an object ({ limits })');
  }
  refuseUnknownOptions('createRateLimiter', Object.keys(options), OPTION_NAMES);
  const { limits, store, onStoreError, name, prefix, ...outage } = options;
  if (prefix !== undefined && typeof prefix !== 'string') {
    throw new RateLimitConfigError(
      `createRateLimiter: "prefix" must be a string (got ${describeValue(prefix)})`,
    );
  }
  if (store !== undefined && name === undefined) {
    // A default name would make every unnamed limiter on the store count against the others.
    throw new RateLimitConfigError(
      'createRateLimiter: a limiter with an explicit "store" needs a "name" (e.g. name: "login"), so that limiters sharing the store do not share counters by accident',
    );
  }
  const set = new LimitSet(limits, name ?? 'default', 'createRateLimiter');
  if (set.limiters.length === 0) {
    throw new RateLimitConfigError('createRateLimiter: "limits" must not be empty');
  }
  const resolvedStore = withOutagePolicy(store ?? new MemoryStore(), {
    ...outage,
    policy: onStoreError,
  });
  const engine = new RateLimitEngine(resolvedStore, { prefix });
  const contextOf = (
    method: string,
    subject: string,
    call: ConsumeOptions | undefined,
  ): RateLimitContext => {
    if (call === undefined) return { subject, cost: 1 };
    // Checked here, not only by the built-in limits that read it: a custom limiter, or a limit
    // with a cost of its own, would otherwise be handed a negative or NaN cost (credits given).
    if (call.cost !== undefined) checkCost(method, call.cost, false);
    return { ...call.context, subject, cost: call.cost ?? 1 };
  };
  return {
    engine,
    consume: (subject, call) => {
      // Not async: the usual call is one promise, the engine's.
      if (!isSubject(subject)) return Promise.reject(subjectError('consume', subject));
      let context: RateLimitContext;
      try {
        context = contextOf('consume', subject, call);
      } catch (error) {
        return Promise.reject(error);
      }
      return engine.evaluate(set, context);
    },
    peek: async (subject, call) => {
      if (!isSubject(subject)) throw subjectError('peek', subject);
      return engine.peek(set, contextOf('peek', subject, call));
    },
    refund: async (decision) => {
      if (typeof decision !== 'object' || decision === null) {
        throw new TypeError(
          `refund: the decision must be one that consume() answered (got ${describeValue(decision)})`,
        );
      }
      const context = admittedContext(decision);
      if (context !== undefined) await engine.refund(set, context, decision);
    },
    reset: async (subject) => {
      if (!isSubject(subject)) throw subjectError('reset', subject);
      await engine.reset(set, subject);
    },
  };
}

/**
 * Whether a caller-given subject can key the limits: a string. The empty string keys a bucket of
 * its own like any other (the Nest layer refuses it, where it means an id that came out empty).
 */
function isSubject(subject: unknown): subject is string {
  return typeof subject === 'string';
}

function subjectError(method: string, subject: unknown): TypeError {
  return new TypeError(
    `${method}: the subject must be a string, e.g. a user id (got ${describeValue(subject)})`,
  );
}

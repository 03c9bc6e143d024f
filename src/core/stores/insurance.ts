import { RateLimitConfigError } from '../limits.js';
import { monotonicClock, type Clock } from '../clock.js';
import { MemoryStore } from './memory-store.js';
import type { LimitCheck, LimitOutcome, RateLimitStore } from './store.js';

/**
 * What to do while the store cannot answer:
 * - `insurance` (default): decide with an in-process MemoryStore holding the same limits, so each
 *   instance still enforces them on its own traffic until the store is back;
 * - `allow`: admit every call (fail open);
 * - `deny`: deny every call (fail closed), with a retryAfter of `denyRetryAfterMs`.
 */
export type StoreErrorPolicy = 'insurance' | 'allow' | 'deny';

/** Minimal logger: Nest's `Logger` and `console` both fit. */
export interface RateLimitLogger {
  warn(message: string): void;
}

export interface OutagePolicyOptions {
  readonly policy?: StoreErrorPolicy;
  readonly logger?: RateLimitLogger;
  /** The outage is logged at most once per this interval (default 60 s), not once per call. */
  readonly logIntervalMs?: number;
  /** After a failure, the store is tried again after this long (default 1 s); meanwhile the policy decides. */
  readonly retryIntervalMs?: number;
  /** retryAfter of calls denied under the `deny` policy (default 1 s). */
  readonly denyRetryAfterMs?: number;
  /** Told of every failed store call (the decision hook's store-error event). */
  readonly reportStoreError?: (error: unknown) => void;
  readonly clock?: Clock;
}

/** Every `onStoreError` policy, for validation. */
export const POLICIES: readonly StoreErrorPolicy[] = ['insurance', 'allow', 'deny'];

/** Wraps a store with the outage policy. Never rejects because of the wrapped store. */
export class ResilientStore implements RateLimitStore {
  readonly policy: StoreErrorPolicy;
  private readonly logger: RateLimitLogger;
  private readonly logIntervalMs: number;
  private readonly retryIntervalMs: number;
  private readonly denyRetryAfterMs: number;
  private readonly reportStoreError: ((error: unknown) => void) | undefined;
  private readonly clock: Clock;
  private insurance: MemoryStore | undefined;
  private downUntilMs = -Infinity;
  /** Whether a call is trying the store again after an outage. */
  private probing = false;
  private lastLoggedAtMs = -Infinity;
  private failuresSinceLog = 0;

  constructor(
    readonly primary: RateLimitStore,
    options: OutagePolicyOptions = {},
  ) {
    const policy = options.policy ?? 'insurance';
    if (!POLICIES.includes(policy)) {
      throw new TypeError(
        `onStoreError must be one of ${POLICIES.join(', ')} (got ${String(policy)})`,
      );
    }
    this.policy = policy;
    this.logger = options.logger ?? console;
    this.logIntervalMs = options.logIntervalMs ?? 60_000;
    this.retryIntervalMs = options.retryIntervalMs ?? 1_000;
    this.denyRetryAfterMs = options.denyRetryAfterMs ?? 1_000;
    this.reportStoreError = options.reportStoreError;
    this.clock = options.clock ?? monotonicClock;
  }

  /** Whether the last call to the primary store failed and it has not answered since. */
  get degraded(): boolean {
    return this.downUntilMs !== -Infinity;
  }

  async evaluate(checks: readonly LimitCheck[]): Promise<readonly LimitOutcome[]> {
    // While the store is down, the policy decides without waiting for it; once retryIntervalMs has
    // passed, one call at a time probes it (the others must not all wait out its timeout).
    const probe = this.degraded;
    if (probe) {
      if (this.probing || this.clock() < this.downUntilMs) return this.fallback(checks);
      this.probing = true;
    }
    try {
      const outcomes = await this.primary.evaluate(checks);
      if (this.degraded) this.recovered();
      return outcomes;
    } catch (error) {
      // A misconfiguration is the caller's to fix, not an outage: no fallback hides it.
      if (error instanceof RateLimitConfigError) throw error;
      // Counted from when the failure is known: a call that timed out has already waited.
      this.failed(error, this.clock());
      return this.fallback(checks);
    } finally {
      if (probe) this.probing = false;
    }
  }

  private fallback(checks: readonly LimitCheck[]): readonly LimitOutcome[] {
    switch (this.policy) {
      case 'insurance':
        this.insurance ??= new MemoryStore({ clock: this.clock });
        return this.insurance.evaluateNow(checks);
      case 'allow':
        return checks.map(() => ({
          allowed: true,
          retryAfterMs: 0,
          remaining: 0,
          resetAfterMs: 0,
        }));
      case 'deny':
        return checks.map(() => ({
          allowed: false,
          retryAfterMs: this.denyRetryAfterMs,
          remaining: 0,
          resetAfterMs: this.denyRetryAfterMs,
        }));
    }
  }

  private failed(error: unknown, nowMs: number): void {
    this.downUntilMs = nowMs + this.retryIntervalMs;
    this.failuresSinceLog++;
    try {
      this.reportStoreError?.(error);
    } catch {
      // A failing hook must not turn an outage into a crash.
    }
    if (nowMs - this.lastLoggedAtMs >= this.logIntervalMs) {
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.warn(
        `rate limit store unavailable (${reason}); ${this.failuresSinceLog} failure(s) since last report; deciding with the "${this.policy}" policy until it answers`,
      );
      this.lastLoggedAtMs = nowMs;
      this.failuresSinceLog = 0;
    }
  }

  private recovered(): void {
    this.downUntilMs = -Infinity;
    this.insurance?.close();
    this.insurance = undefined;
    this.logger.warn('rate limit store answers again; insurance state dropped');
  }
}

/**
 * `store` with the outage policy around it: a MemoryStore cannot fail and a ResilientStore already
 * has its policy, so both are used as they are.
 */
export function withOutagePolicy(
  store: RateLimitStore,
  options: OutagePolicyOptions,
): RateLimitStore {
  if (store instanceof MemoryStore || store instanceof ResilientStore) return store;
  return new ResilientStore(store, options);
}

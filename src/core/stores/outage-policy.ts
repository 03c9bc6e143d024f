import type { Clock } from '../clock.js';

/**
 * What to do while the store cannot answer:
 * - `insurance` (default): decide with an in-process MemoryStore holding the same limits, so each
 *   instance still enforces them on its own traffic until the store is back. It records every call
 *   this instance admits, outage or not, for as long as the limits' windows last: a store that
 *   flaps, or comes back empty, never gives anyone more than this instance has left;
 * - `allow`: admit every call (fail open);
 * - `deny`: deny every call (fail closed), with a retryAfter of `denyRetryAfterMs`.
 */
export type StoreErrorPolicy = 'insurance' | 'allow' | 'deny';

/** Minimal logger: Nest's `Logger` and `console` both fit. */
export interface RateLimitLogger {
  warn(message: string): void;
}

/** Options of `withOutagePolicy`: what decides calls while the store cannot answer. */
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

/**
 * Tells of store failures: the hook of every one, and a warning at most once per interval (with
 * the count since the last one), so that an outage is not a log line per call.
 */
export class OutageReport {
  private lastLoggedAtMs = -Infinity;
  private failuresSinceLog = 0;

  constructor(
    private readonly logger: RateLimitLogger,
    private readonly logIntervalMs: number,
    private readonly reportStoreError: ((error: unknown) => void) | undefined,
  ) {}

  /** One failure at `nowMs`; `deciding` says who decides meanwhile. */
  failure(error: unknown, nowMs: number, deciding: string): void {
    this.failuresSinceLog++;
    try {
      this.reportStoreError?.(error);
    } catch {
      // A failing hook must not turn an outage into a crash.
    }
    if (nowMs - this.lastLoggedAtMs < this.logIntervalMs) return;
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.warn(
      `rate limit store unavailable (${reason}); ${this.failuresSinceLog} failure(s) since last report; ${deciding}`,
    );
    this.lastLoggedAtMs = nowMs;
    this.failuresSinceLog = 0;
  }
}

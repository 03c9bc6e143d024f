import type { BuiltInRateLimit } from '../limits.js';

/** One limit to check for one call: where its state lives, what it is, what the call costs. */
export interface LimitCheck {
  /** The storage key (collision-free; see `subject.ts`). */
  readonly key: string;
  readonly limit: BuiltInRateLimit;
  readonly cost: number;
}

/** What one limit decided for one call. Times in milliseconds. */
export interface LimitOutcome {
  readonly allowed: boolean;
  /** 0 when allowed. */
  readonly retryAfterMs: number;
  readonly remaining: number;
  readonly resetAfterMs: number;
}

/**
 * Where limit state lives. One method: check every limit of a call and commit all of them only
 * when all allow — one atomic step with respect to every other call on the same store.
 * A store that cannot answer rejects; the outage policy (`insurance.ts`) decides what then.
 */
export interface RateLimitStore {
  evaluate(checks: readonly LimitCheck[]): Promise<readonly LimitOutcome[]>;
}

/** Raised by a store that could not read or write its state. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

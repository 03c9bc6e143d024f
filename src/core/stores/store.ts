import type { BuiltInRateLimit } from '../limits.js';

/** One limit to check for one call: where its state lives, what it is, what the call costs. */
export interface LimitCheck {
  /** The storage key (collision-free; see `subject.ts`). */
  readonly key: string;
  readonly limit: BuiltInRateLimit;
  readonly cost: number;
  /**
   * The key without its subject part, and the subject as the caller gave it: the engine sets both,
   * so that a store may group its keys by limit (the MemoryStore does) instead of parsing `key`.
   * Optional: a store must work from `key` alone.
   */
  readonly space?: string;
  readonly subject?: string;
  /**
   * For a refund: when the store admitted the call being refunded (the `atMs` of its outcome).
   * Without it the call is taken as admitted now.
   */
  readonly admittedAtMs?: number;
  /**
   * For a refund: the call was decided by the outage policy, not by this store (its outcome's
   * `decidedByPolicy`). The outage policy keeps such a refund from the store it wraps.
   */
  readonly decidedByPolicy?: boolean;
}

/** What one limit decided for one call. Times in milliseconds. */
export interface LimitOutcome {
  readonly allowed: boolean;
  /** 0 when allowed. */
  readonly retryAfterMs: number;
  readonly remaining: number;
  readonly resetAfterMs: number;
  /**
   * When the store decided, by its clock (epoch ms): a refund of this call names it as
   * `admittedAtMs`. Optional for custom stores: without it a refund takes the call as made at the
   * refund.
   */
  readonly atMs?: number;
  /**
   * Set by the outage policy on the outcome of a `ConcurrencyLimit` it admitted because the store
   * did not answer in time: the store may still run the call's command and take a slot there that
   * the call's release does not name. The engine calls it when the call releases; that slot is
   * then freed as soon as the store has said whether it took it.
   */
  readonly onRelease?: () => void;
  /**
   * Set by the outage policy on every outcome it decided without the store: the store never
   * counted the call, so a refund of it gives the store nothing back, whenever it comes.
   */
  readonly decidedByPolicy?: boolean;
}

/**
 * Where limit state lives. One method: check every limit of a call and commit all of them only
 * when all allow — one atomic step with respect to every other call on the same store.
 * A store that cannot answer rejects; the outage policy (`insurance.ts`) decides what then.
 */
export interface RateLimitStore {
  evaluate(checks: readonly LimitCheck[]): Promise<readonly LimitOutcome[]>;
  /**
   * `evaluate`, synchronously, for a store that decides in memory. Optional: when a store has it,
   * the engine decides without a promise, so an in-memory guard makes Nest await nothing.
   */
  evaluateNow?(checks: readonly LimitCheck[]): readonly LimitOutcome[];
  /**
   * What `evaluate` would answer now for the same checks, committing nothing (an admin looking a
   * user up). Optional for custom stores: features that need it refuse a store without it.
   */
  peek?(checks: readonly LimitCheck[]): Promise<readonly LimitOutcome[]>;
  /**
   * Gives back to each check's limit what the call admitted at `admittedAtMs` (default: now) with
   * `cost` still holds, in one atomic step like `evaluate`: never more (a window that has rolled
   * over, entries that have expired, tokens the refill has brought back give nothing back), so a
   * refund never makes a limit roomier than if the call had never been made. A key without state
   * is left alone. Per algorithm: fixed window, `cost` off the count when the admission's window is
   * the current one; sliding window, up to `cost` entries stamped `admittedAtMs` while live; token
   * bucket, `max(0, cost − elapsed × rate)` tokens, capped at capacity; GCRA, the arrival time back
   * by `max(0, cost × interval − elapsed)`, not before now. A store that marks its resets (see
   * `resetAt`) gives nothing back for a call admitted before a reset of its key, whoever made it.
   * The engine refunds each admitted decision once. Optional for custom stores: features that need
   * it refuse a store without it.
   */
  refund?(checks: readonly LimitCheck[]): Promise<void>;
  /**
   * Forgets the state of these keys: their limits start afresh (a plan upgrade, a support case).
   * Optional for custom stores: features that need it refuse a store without it.
   */
  reset?(keys: readonly string[]): Promise<void>;
  /**
   * Per key, its last reset while that reset can still matter, else undefined: a store shared by
   * several instances marks the keys it resets, so that an instance whose own record of its calls
   * (the outage policy's insurance) still counts the quota used before the reset learns of it.
   * Asked only when the store admits a call that record had denied. Optional: without it, such a
   * call is taken as the store having lost its state (denied).
   */
  resetAt?(keys: readonly string[]): Promise<readonly (ResetMark | undefined)[]>;
}

/** A key's reset as its store marked it: when (the store's clock, epoch ms), how long it lasts. */
export interface ResetMark {
  readonly atMs: number;
  /** How much longer the mark is kept (as long as the key's state at the reset would have been). */
  readonly leftMs: number;
}

/** Raised by a store that could not read or write its state. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Raised for one call the store answered but could not decide: a key of the call holds what the
 * store cannot read (a foreign value), or is in doubt (a write that timed out may still land). The
 * outage policy decides that call, but the store is not taken for down: the calls of other keys
 * are still its own to decide (taken for down, one broken key handed every limit of the app to the
 * policy, `allow` included, again after each of its calls).
 */
export class StoreKeyError extends StoreUnavailableError {}

/**
 * A store call that did not answer in time but may still run (a slow or frozen store): `late`
 * resolves with what the store answers for it after all, or undefined when it never runs or fails.
 * The outage policy decides the call meanwhile, and frees the concurrency slots it took late.
 * A custom store that gives up waiting on its backend should reject `evaluate` with one, so that
 * slots its command may still take are freed too.
 */
export class StoreTimeoutError extends StoreUnavailableError {
  constructor(
    message: string,
    readonly late: Promise<readonly LimitOutcome[] | undefined>,
  ) {
    super(message);
  }
}

/**
 * What one algorithm decides for one limit and one call.
 *
 * Every algorithm is a pure function `(state, nowMs, params, cost) -> AlgorithmStep`; its Redis Lua
 * twin beside it takes the same inputs and returns the same numbers. Times are milliseconds.
 *
 * A class rather than object literals so that the steps of all four algorithms share one shape:
 * whoever reads a step (the stores, the engine) reads it the same way whatever the algorithm.
 */
export class AlgorithmStep<State> {
  constructor(
    /** Whether this limit admits the call. */
    readonly allowed: boolean,
    /**
     * When denied: milliseconds until the same call would be admitted if nobody else called
     * meanwhile. 0 when allowed.
     */
    readonly retryAfterMs: number,
    /** Unit-cost calls this limit would still admit right after this decision. */
    readonly remaining: number,
    /** Milliseconds until this limit is back to its full quota (after this decision). */
    readonly resetAfterMs: number,
    /** The state to store when the call is committed. When denied it is the input state. */
    readonly state: State,
    /** How long the stored state must be kept; after that it is equivalent to no state at all. */
    readonly ttlMs: number,
    /** The time this decision was made at (the store's clock): what a refund of the call names. */
    readonly atMs: number,
  ) {}
}

/** What a refund leaves: the state to store and how long to keep it (the algorithm's usual TTL). */
export interface RefundStep<State> {
  readonly state: State;
  readonly ttlMs: number;
}

/** The built-in algorithms, by the name stores dispatch on. */
export type AlgorithmName =
  'fixed-window' | 'sliding-window' | 'token-bucket' | 'gcra' | 'concurrency';

/**
 * Floating-point slack, in milliseconds: a call made exactly at the moment its retryAfter pointed to
 * is admitted despite rounding. Epoch milliseconds (~1.7e12) carry only ~0.0002 ms of precision, so
 * the slack is 1 µs: a call may be admitted at most 1 µs early. The Lua twins use the same value.
 */
export const EPSILON_MS = 0.001;

/**
 * The longest a store keeps a state: 2^53 − 1 ms, about 285,000 years. A limit that practically
 * never refills (a token bucket of 1e-17 tokens per second) is valid and has a finite TTL, but a
 * store cannot always take it: Redis refuses an expiry past 2^63 ms from now, which failed every
 * call of such a limit into the outage policy (`allow`: every call admitted). Kept this long
 * instead, its state outlives anyone who could tell. The Lua twins use the same value.
 */
export const MAX_TTL_MS = Number.MAX_SAFE_INTEGER;

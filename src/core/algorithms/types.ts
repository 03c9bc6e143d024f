/**
 * What one algorithm decides for one limit and one call.
 *
 * Every algorithm is a pure function `(state, nowMs, params, cost) -> AlgorithmStep`; its Redis Lua
 * twin beside it takes the same inputs and returns the same numbers. Times are milliseconds.
 *
 * A class, not object literals: V8 then gives every algorithm's steps one hidden class. Same-shaped
 * literals in four algorithms (a field holding 0 in one, a fraction or an object in another) kept
 * deprecating each other's hidden class, and every reader of a step paid a runtime miss per call
 * (a two-limit MemoryStore check went from 0.6 to 3.5 µs when all algorithms ran in one process).
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
  ) {}
}

/** The four built-in algorithms, by the name stores dispatch on. */
export type AlgorithmName = 'fixed-window' | 'sliding-window' | 'token-bucket' | 'gcra';

/**
 * Floating-point slack, in milliseconds: a call made exactly at the moment its retryAfter pointed to
 * is admitted despite rounding. Epoch milliseconds (~1.7e12) carry only ~0.0002 ms of precision, so
 * the slack is 1 µs: a call may be admitted at most 1 µs early. The Lua twins use the same value.
 */
export const EPSILON_MS = 0.001;

/**
 * What an algorithm's numeric core decided, written into an object its caller owns and reuses: the
 * MemoryStore decides without a step and state objects per call. The core is the only
 * implementation of each algorithm; its pure function wraps it. The new state (`state0`, `state1`,
 * as each algorithm says) is written only when the call is allowed.
 */
export class StepOutput {
  allowed = false;
  retryAfterMs = 0;
  remaining = 0;
  resetAfterMs = 0;
  ttlMs = 0;
  state0 = 0;
  state1 = 0;

  /** This output as the step of a pure function; `state` is the new one when allowed, else the input. */
  toStep<State>(state: State): AlgorithmStep<State> {
    return new AlgorithmStep(
      this.allowed,
      this.retryAfterMs,
      this.remaining,
      this.resetAfterMs,
      state,
      this.ttlMs,
    );
  }
}

import { AlgorithmStep, EPSILON_MS, type RefundStep } from './types.js';

/**
 * Generic Cell Rate Algorithm: `burst` units may arrive at once, then one unit every
 * `emissionIntervalMs` (1000 / ratePerSecond).
 */
export type GcraParams = {
  readonly emissionIntervalMs: number;
  readonly burst: number;
};

/** The theoretical arrival time: when the bucket would be empty again. No state means empty. */
export type GcraState = number;

export function gcra(
  state: GcraState | undefined,
  nowMs: number,
  params: GcraParams,
  cost: number,
): AlgorithmStep<GcraState | undefined> {
  const { emissionIntervalMs, burst } = params;
  const tolerance = burst * emissionIntervalMs;
  const tatMs = state !== undefined ? Math.max(state, nowMs) : nowMs;
  const newTatMs = tatMs + cost * emissionIntervalMs;
  const allowAtMs = newTatMs - tolerance;

  if (allowAtMs <= nowMs + EPSILON_MS) {
    const resetAfterMs = newTatMs - nowMs;
    const remaining = Math.floor((tolerance - resetAfterMs + EPSILON_MS) / emissionIntervalMs);
    return new AlgorithmStep(
      true,
      0, // retryAfterMs
      Math.max(0, remaining),
      resetAfterMs,
      newTatMs, // state
      Math.ceil(resetAfterMs), // ttlMs
      nowMs, // atMs
    );
  }

  const resetAfterMs = tatMs - nowMs;
  const remaining = Math.floor((tolerance - resetAfterMs + EPSILON_MS) / emissionIntervalMs);
  return new AlgorithmStep(
    false,
    // A cost above the burst is never admitted; answer with the time to drain the whole burst.
    cost > burst ? tolerance : allowAtMs - nowMs, // retryAfterMs
    Math.max(0, remaining),
    resetAfterMs,
    state,
    Math.ceil(resetAfterMs), // ttlMs
    nowMs, // atMs
  );
}

/**
 * Gives back what a call admitted at `admittedAtMs` still holds: its `cost` emissions moved the
 * arrival time forward by `cost × emissionIntervalMs`, and every millisecond since has drained one
 * millisecond of that (to later calls, or to an emptying bucket). Moving the arrival time back by
 * what is left, and never before now, returns no unit twice and makes no credit.
 */
export function refundGcra(
  state: GcraState | undefined,
  nowMs: number,
  params: GcraParams,
  cost: number,
  admittedAtMs: number,
): RefundStep<GcraState> | undefined {
  if (state === undefined) return undefined;
  const heldMs = Math.max(0, cost * params.emissionIntervalMs - (nowMs - admittedAtMs));
  const tatMs = Math.max(nowMs, state - heldMs);
  return { state: tatMs, ttlMs: Math.ceil(tatMs - nowMs) };
}

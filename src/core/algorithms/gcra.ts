import { EPSILON_MS, type AlgorithmStep } from './types.js';

/**
 * Generic Cell Rate Algorithm: `burst` units may arrive at once, then one unit every
 * `emissionIntervalMs` (1000 / ratePerSecond).
 */
export interface GcraParams {
  readonly emissionIntervalMs: number;
  readonly burst: number;
}

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
  const tatMs = state === undefined ? nowMs : Math.max(state, nowMs);
  const newTatMs = tatMs + cost * emissionIntervalMs;
  const allowAtMs = newTatMs - tolerance;

  if (allowAtMs <= nowMs + EPSILON_MS) {
    const resetAfterMs = newTatMs - nowMs;
    return {
      allowed: true,
      retryAfterMs: 0,
      remaining: Math.max(
        0,
        Math.floor((tolerance - resetAfterMs + EPSILON_MS) / emissionIntervalMs),
      ),
      resetAfterMs,
      state: newTatMs,
      ttlMs: Math.ceil(resetAfterMs),
    };
  }

  const resetAfterMs = tatMs - nowMs;
  return {
    allowed: false,
    // A cost above the burst is never admitted; answer with the time to drain the whole burst.
    retryAfterMs: cost > burst ? tolerance : allowAtMs - nowMs,
    remaining: Math.max(
      0,
      Math.floor((tolerance - resetAfterMs + EPSILON_MS) / emissionIntervalMs),
    ),
    resetAfterMs,
    state,
    ttlMs: Math.ceil(resetAfterMs),
  };
}

import type { AlgorithmStep } from './types.js';

/** Fixed window: at most `limit` units in each clock-aligned bucket of `periodMs`. */
export interface FixedWindowParams {
  readonly limit: number;
  readonly periodMs: number;
}

/** The count of units admitted in the bucket that starts at `windowStartMs`. */
export interface FixedWindowState {
  readonly windowStartMs: number;
  readonly count: number;
}

export function fixedWindow(
  state: FixedWindowState | undefined,
  nowMs: number,
  params: FixedWindowParams,
  cost: number,
): AlgorithmStep<FixedWindowState | undefined> {
  const { limit, periodMs } = params;
  const windowStartMs = Math.floor(nowMs / periodMs) * periodMs;
  const count = state !== undefined && state.windowStartMs === windowStartMs ? state.count : 0;
  const resetAfterMs = windowStartMs + periodMs - nowMs;

  if (count + cost <= limit) {
    return {
      allowed: true,
      retryAfterMs: 0,
      remaining: limit - count - cost,
      resetAfterMs,
      state: { windowStartMs, count: count + cost },
      ttlMs: resetAfterMs,
    };
  }
  // The next bucket starts empty, so any cost within the limit is admitted there. A cost above the
  // limit is never admitted; we answer with the next bucket anyway (there is no "never" on the wire).
  return {
    allowed: false,
    retryAfterMs: resetAfterMs,
    remaining: limit - count,
    resetAfterMs,
    state,
    ttlMs: resetAfterMs,
  };
}

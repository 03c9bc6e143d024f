import { AlgorithmStep } from './types.js';

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
    return new AlgorithmStep(
      true,
      0, // retryAfterMs
      limit - count - cost, // remaining
      resetAfterMs,
      { windowStartMs, count: count + cost }, // state
      resetAfterMs, // ttlMs
    );
  }
  // The next bucket starts empty, so any cost within the limit is admitted there. A cost above the
  // limit is never admitted; we answer with the next bucket anyway (there is no "never" on the wire).
  return new AlgorithmStep(
    false,
    resetAfterMs, // retryAfterMs
    limit - count, // remaining
    resetAfterMs,
    state,
    resetAfterMs, // ttlMs
  );
}

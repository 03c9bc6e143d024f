import { AlgorithmStep, type RefundStep } from './types.js';

/** Fixed window: at most `limit` units in each clock-aligned bucket of `periodMs`. */
export type FixedWindowParams = {
  readonly limit: number;
  readonly periodMs: number;
};

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
  // A state of a later window than the clock's (the clock stepped back) is still the current one:
  // read as the clock's own earlier window, its used-up count would be a fresh allowance.
  const windowStartMs = Math.max(windowStartOf(nowMs, periodMs), state?.windowStartMs ?? -Infinity);
  const count = state !== undefined && state.windowStartMs === windowStartMs ? state.count : 0;
  const resetAfterMs = windowStartMs + periodMs - nowMs;

  if (count + cost <= limit) {
    const next = { windowStartMs, count: count + cost };
    return new AlgorithmStep(
      true,
      0,
      limit - count - cost,
      resetAfterMs,
      next,
      resetAfterMs,
      nowMs,
    );
  }
  // The next bucket starts empty, so any cost within the limit is admitted there. A cost above the
  // limit is never admitted; we answer with the next bucket anyway (there is no "never" on the wire).
  return new AlgorithmStep(
    false,
    resetAfterMs,
    limit - count,
    resetAfterMs,
    state,
    resetAfterMs,
    nowMs,
  );
}

/**
 * Gives back the `cost` units of a call admitted at `admittedAtMs`, when that call's bucket is the
 * current one (never below 0). Exact: until its bucket ends the call holds all its units, and once
 * it has ended they are free already, so giving them to the new bucket would admit more than the
 * limit.
 */
export function refundFixedWindow(
  state: FixedWindowState | undefined,
  nowMs: number,
  params: FixedWindowParams,
  cost: number,
  admittedAtMs: number,
): RefundStep<FixedWindowState> | undefined {
  const { periodMs } = params;
  const windowStartMs = windowStartOf(nowMs, periodMs);
  if (state === undefined || state.windowStartMs !== windowStartMs) return undefined;
  if (windowStartOf(admittedAtMs, periodMs) !== windowStartMs) return undefined;
  const count = Math.max(0, state.count - cost);
  return { state: { windowStartMs, count }, ttlMs: windowStartMs + periodMs - nowMs };
}

/**
 * The start of the clock-aligned window `nowMs` is in: the one whose end (start + period, what a
 * denial's retryAfterMs names) has not passed. The division alone can put a time at or after that
 * end in the window before (with a period of a fraction of a millisecond), and a call made when
 * its denial said was denied again, told to wait 0 ms. Each window keeps one start either way:
 * `index × period`, as every call that falls in it computes it.
 */
function windowStartOf(nowMs: number, periodMs: number): number {
  const index = Math.floor(nowMs / periodMs);
  const startMs = index * periodMs;
  return nowMs < startMs + periodMs ? startMs : (index + 1) * periodMs;
}

import { firstLiveIndex, lastExpiresAfterMs, latestExpiresAfterMs, withAppended } from './times.js';
import { AlgorithmStep, type RefundStep } from './types.js';

/** Exact rolling window: at most `limit` units in any interval of `periodMs`. */
export type SlidingWindowParams = {
  readonly limit: number;
  readonly periodMs: number;
};

/**
 * The largest `limit` a sliding window takes: its state holds one time per admitted unit, so a
 * larger quota would make each subject's state large and every call slow to copy it.
 */
export const MAX_SLIDING_WINDOW_CALLS = 10_000;

/**
 * The times of the admitted units still inside the window, oldest first (a call of cost n adds n
 * entries). Never longer than `limit`.
 */
export type SlidingWindowState = readonly number[];

export function slidingWindow(
  state: SlidingWindowState | undefined,
  nowMs: number,
  params: SlidingWindowParams,
  cost: number,
): AlgorithmStep<SlidingWindowState | undefined> {
  const { limit, periodMs } = params;
  const entries = state ?? [];
  // An entry admitted at t occupies the half-open interval [t, t + periodMs).
  const firstLive = firstLiveIndex(entries, nowMs - periodMs);
  const liveCount = entries.length - firstLive;

  if (liveCount + cost <= limit) {
    const next = withAppended(entries, firstLive, nowMs, cost);
    const resetAfterMs = lastExpiresAfterMs(next, nowMs, periodMs);
    // Kept until its latest entry leaves the window (not always its last: see latestExpiresAfterMs).
    const ttlMs = latestExpiresAfterMs(next, nowMs, periodMs);
    return new AlgorithmStep(true, 0, limit - next.length, resetAfterMs, next, ttlMs, nowMs);
  }

  const resetAfterMs = liveCount === 0 ? 0 : entries[entries.length - 1] + periodMs - nowMs;
  // Enough of the oldest entries must leave the window to make room for `cost` units.
  const mustExpire = liveCount + cost - limit;
  const retryAfterMs =
    cost > limit ? periodMs : entries[firstLive + mustExpire - 1] + periodMs - nowMs;
  return new AlgorithmStep(
    false,
    retryAfterMs,
    limit - liveCount, // remaining
    resetAfterMs,
    state,
    resetAfterMs, // ttlMs
    nowMs, // atMs
  );
}

/**
 * Removes the entries of a call admitted at `admittedAtMs` (up to `cost` entries stamped with that
 * time), while they are still inside the window. Exact: those entries are what the call holds, and
 * once they have left the window it holds nothing. Entries of other calls of the same instant are
 * alike (they leave the window together), so which of them goes makes no difference.
 */
export function refundSlidingWindow(
  state: SlidingWindowState | undefined,
  nowMs: number,
  params: SlidingWindowParams,
  cost: number,
  admittedAtMs: number,
): RefundStep<SlidingWindowState> | undefined {
  if (state === undefined || admittedAtMs <= nowMs - params.periodMs) return undefined;
  const first = state.indexOf(admittedAtMs);
  if (first < 0) return undefined;
  let end = first;
  while (end < state.length && end - first < cost && state[end] === admittedAtMs) end++;
  const next = [...state.slice(0, first), ...state.slice(end)];
  return { state: next, ttlMs: latestExpiresAfterMs(next, nowMs, params.periodMs) };
}

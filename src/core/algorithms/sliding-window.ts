import { AlgorithmStep } from './types.js';

/** Exact rolling window: at most `limit` units in any interval of `periodMs`. */
export interface SlidingWindowParams {
  readonly limit: number;
  readonly periodMs: number;
}

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
  // An entry admitted at t occupies the half-open interval [t, t + periodMs).
  const oldestLiveMs = nowMs - periodMs;
  let firstLive = 0;
  const entries = state ?? [];
  while (firstLive < entries.length && entries[firstLive] <= oldestLiveMs) firstLive++;
  const liveCount = entries.length - firstLive;

  if (liveCount + cost <= limit) {
    // Built at its exact length: slice() and push() would leave spare capacity in every stored state.
    const next = new Array<number>(liveCount + cost);
    for (let index = 0; index < liveCount; index++) next[index] = entries[firstLive + index];
    next.fill(nowMs, liveCount);
    const resetAfterMs = next.length === 0 ? 0 : next[next.length - 1] + periodMs - nowMs;
    return new AlgorithmStep(
      true,
      0, // retryAfterMs
      limit - next.length, // remaining
      resetAfterMs,
      next, // state
      resetAfterMs, // ttlMs
    );
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
  );
}

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
  const live = firstLive === 0 ? entries : entries.slice(firstLive);

  if (live.length + cost <= limit) {
    const next = live.slice();
    for (let unit = 0; unit < cost; unit++) next.push(nowMs);
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

  const resetAfterMs = live.length === 0 ? 0 : live[live.length - 1] + periodMs - nowMs;
  // Enough of the oldest entries must leave the window to make room for `cost` units.
  const mustExpire = live.length + cost - limit;
  const retryAfterMs = cost > limit ? periodMs : live[mustExpire - 1] + periodMs - nowMs;
  return new AlgorithmStep(
    false,
    retryAfterMs,
    limit - live.length, // remaining
    resetAfterMs,
    state,
    resetAfterMs, // ttlMs
  );
}

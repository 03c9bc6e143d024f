import { AlgorithmStep, type RefundStep } from './types.js';

/** Exact rolling window: at most `limit` units in any interval of `periodMs`. */
export type SlidingWindowParams = {
  readonly limit: number;
  readonly periodMs: number;
};

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
  const firstLive = firstLiveIndex(entries, nowMs, periodMs);
  const liveCount = entries.length - firstLive;

  if (liveCount + cost <= limit) {
    // Built at its exact length: push() would leave spare capacity in every stored state.
    const next = new Array<number>(liveCount + cost);
    for (let index = 0; index < liveCount; index++) next[index] = entries[firstLive + index];
    next.fill(nowMs, liveCount);
    const resetAfterMs = expiresAfterMs(next, nowMs, periodMs);
    return new AlgorithmStep(true, 0, limit - next.length, resetAfterMs, next, resetAfterMs);
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

/**
 * Removes the `cost` OLDEST live entries (not below none). The refunded call's own entries may be
 * newer, but dropping older ones instead leaves entries that expire no sooner than the call's
 * would have: the limit is never roomier than if the call had not been made.
 */
export function refundSlidingWindow(
  state: SlidingWindowState | undefined,
  nowMs: number,
  params: SlidingWindowParams,
  cost: number,
): RefundStep<SlidingWindowState> | undefined {
  if (state === undefined) return undefined;
  const { periodMs } = params;
  const firstLive = firstLiveIndex(state, nowMs, periodMs);
  const next = state.slice(Math.min(state.length, firstLive + cost));
  return { state: next, ttlMs: expiresAfterMs(next, nowMs, periodMs) };
}

/** The index of the first entry still inside the window at `nowMs`. */
function firstLiveIndex(entries: SlidingWindowState, nowMs: number, periodMs: number): number {
  // An entry admitted at t occupies the half-open interval [t, t + periodMs).
  const oldestLiveMs = nowMs - periodMs;
  let firstLive = 0;
  while (firstLive < entries.length && entries[firstLive] <= oldestLiveMs) firstLive++;
  return firstLive;
}

/** Milliseconds until the newest of `entries` leaves the window (0 when there is none). */
function expiresAfterMs(entries: SlidingWindowState, nowMs: number, periodMs: number): number {
  return entries.length === 0 ? 0 : entries[entries.length - 1] + periodMs - nowMs;
}

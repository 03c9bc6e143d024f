// Lists of times, oldest first, as a sliding window (its entries' admission times) and a concurrency
// limit (its leases' expiry times) keep them (in order unless the store's clock stepped back). The
// Lua side of the same list is `commit_times` in helpers.lua.

/** The index of the first of `times` later than `expiredUpToMs` (the first one still counted). */
export function firstLiveIndex(times: readonly number[], expiredUpToMs: number): number {
  let firstLive = 0;
  while (firstLive < times.length && times[firstLive] <= expiredUpToMs) firstLive++;
  return firstLive;
}

/**
 * The live part of `times` (from `firstLive`) followed by `cost` copies of `timeMs`. Built at its
 * exact length: push() would leave spare capacity in every stored state.
 */
export function withAppended(
  times: readonly number[],
  firstLive: number,
  timeMs: number,
  cost: number,
): number[] {
  const liveCount = times.length - firstLive;
  const next = new Array<number>(liveCount + cost);
  for (let index = 0; index < liveCount; index++) next[index] = times[firstLive + index];
  next.fill(timeMs, liveCount);
  return next;
}

/** Milliseconds until the newest of `times`, plus `offsetMs`, has passed (0 when there is none). */
export function lastExpiresAfterMs(
  times: readonly number[],
  nowMs: number,
  offsetMs: number,
): number {
  return times.length === 0 ? 0 : times[times.length - 1] + offsetMs - nowMs;
}

/**
 * Milliseconds until the latest of `times`, plus `offsetMs`, has passed (0 when there is none):
 * how long the list must be kept. Usually its newest (last) entry; but after the store's clock
 * stepped back, the entries appended since end before earlier ones, and a list kept only until its
 * last entry ended lost the earlier ones while they still counted: their units came back early.
 */
export function latestExpiresAfterMs(
  times: readonly number[],
  nowMs: number,
  offsetMs: number,
): number {
  if (times.length === 0) return 0;
  let latest = times[0];
  for (let index = 1; index < times.length; index++) {
    if (times[index] > latest) latest = times[index];
  }
  return latest + offsetMs - nowMs;
}

// Lists of times, oldest first, as a sliding window (its entries' admission times) and a concurrency
// limit (its leases' expiry times) keep them. The Lua side of the same list is `commit_times` in
// helpers.lua.

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

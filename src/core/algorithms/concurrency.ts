import { firstLiveIndex, lastExpiresAfterMs, latestExpiresAfterMs, withAppended } from './times.js';
import { AlgorithmStep, type RefundStep } from './types.js';

/** At most `limit` calls in flight at once; each admitted call holds a slot for at most `leaseMs`. */
export type ConcurrencyParams = {
  readonly limit: number;
  readonly leaseMs: number;
};

/**
 * The largest `limit` a concurrency limit takes: its state holds one lease per call in flight, so
 * a larger limit would make each subject's state large and every call slow to copy it.
 */
export const MAX_CONCURRENT_CALLS = 10_000;

/**
 * The expiry times of the leases held, soonest first (a call of cost n holds n alike leases). A
 * lease that expires at e is held while now < e. Never longer than `limit`.
 */
export type ConcurrencyState = readonly number[];

/**
 * Admits a call when fewer than `limit` leases are live (counting the call's cost), taking leases
 * that expire at `nowMs + leaseMs`. A denial's retryAfterMs is when enough leases expire on their
 * own: the longest the caller can have to wait, since a release frees a slot sooner.
 */
export function concurrency(
  state: ConcurrencyState | undefined,
  nowMs: number,
  params: ConcurrencyParams,
  cost: number,
): AlgorithmStep<ConcurrencyState | undefined> {
  const { limit, leaseMs } = params;
  const leases = state ?? [];
  const firstLive = firstLiveIndex(leases, nowMs);
  const liveCount = leases.length - firstLive;

  if (liveCount + cost <= limit) {
    const next = withAppended(leases, firstLive, nowMs + leaseMs, cost);
    const resetAfterMs = lastExpiresAfterMs(next, nowMs, 0);
    // Kept until its latest lease expires (not always its last: see latestExpiresAfterMs).
    const ttlMs = latestExpiresAfterMs(next, nowMs, 0);
    return new AlgorithmStep(true, 0, limit - next.length, resetAfterMs, next, ttlMs, nowMs);
  }

  const resetAfterMs = liveCount === 0 ? 0 : leases[leases.length - 1] - nowMs;
  // Enough of the soonest leases must expire to make room for `cost` slots.
  const mustExpire = liveCount + cost - limit;
  const retryAfterMs = cost > limit ? leaseMs : leases[firstLive + mustExpire - 1] - nowMs;
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
 * Releases the slots of a call admitted at `admittedAtMs`: removes up to `cost` leases that expire
 * at `admittedAtMs + leaseMs`, while they are live. Exact: those leases are what the call holds,
 * and once expired it holds nothing. Leases of other calls admitted at the same instant are alike
 * (they expire together), so which of them goes makes no difference.
 */
export function releaseConcurrency(
  state: ConcurrencyState | undefined,
  nowMs: number,
  params: ConcurrencyParams,
  cost: number,
  admittedAtMs: number,
): RefundStep<ConcurrencyState> | undefined {
  const expiresAtMs = admittedAtMs + params.leaseMs;
  if (state === undefined || expiresAtMs <= nowMs) return undefined;
  const first = state.indexOf(expiresAtMs);
  if (first < 0) return undefined;
  let end = first;
  while (end < state.length && end - first < cost && state[end] === expiresAtMs) end++;
  const next = [...state.slice(0, first), ...state.slice(end)];
  return { state: next, ttlMs: latestExpiresAfterMs(next, nowMs, 0) };
}

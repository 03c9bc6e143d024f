import { AlgorithmStep, EPSILON_MS, type RefundStep } from './types.js';

/** A bucket of `capacity` tokens refilled continuously at `refillPerSecond`. */
export type TokenBucketParams = {
  readonly capacity: number;
  readonly refillPerSecond: number;
};

/** Tokens left at `updatedAtMs`. No state means a full bucket. */
export interface TokenBucketState {
  readonly tokens: number;
  readonly updatedAtMs: number;
}

export function tokenBucket(
  state: TokenBucketState | undefined,
  nowMs: number,
  params: TokenBucketParams,
  cost: number,
): AlgorithmStep<TokenBucketState | undefined> {
  const { capacity, refillPerSecond } = params;
  const tokens = tokensAt(state, nowMs, params);

  // The tokens 1 µs of refill brings: the slack of EPSILON_MS expressed in tokens.
  const slack = (EPSILON_MS * refillPerSecond) / 1000;
  if (tokens + slack >= cost) {
    // Admitted up to 1 µs early (the slack): the call is complete once the refill has brought the
    // rest, and the state is stamped then (ahead of now), so the next call owes it. Forgiven
    // instead, an empty bucket admitted any number of calls costing at most the slack, for nothing.
    const aheadMs = tokens < cost ? ((cost - tokens) * 1000) / refillPerSecond : 0;
    const left = tokens < cost ? 0 : tokens - cost;
    const resetAfterMs = aheadMs + ((capacity - left) * 1000) / refillPerSecond;
    return new AlgorithmStep(
      true,
      0, // retryAfterMs
      Math.max(0, Math.floor(tokens - cost + slack)), // remaining
      resetAfterMs,
      { tokens: left, updatedAtMs: nowMs + aheadMs }, // state
      Math.ceil(resetAfterMs), // ttlMs
      nowMs, // atMs
    );
  }

  const resetAfterMs = ((capacity - tokens) * 1000) / refillPerSecond;
  // A cost above the capacity is never admitted; answer with the time to fill the whole bucket.
  const missing = cost > capacity ? capacity : cost - tokens;
  return new AlgorithmStep(
    false,
    (missing * 1000) / refillPerSecond, // retryAfterMs
    Math.max(0, Math.floor(tokens + slack)), // remaining
    resetAfterMs,
    state,
    Math.ceil(resetAfterMs), // ttlMs
    nowMs, // atMs
  );
}

/**
 * Gives back what a call admitted at `admittedAtMs` still holds: it took `cost` tokens, and the
 * refill since has brought `elapsed × refillPerSecond` of them back (to later calls, or over the
 * brim of a full bucket). Only the rest is put back (after refilling to now), never above the
 * capacity: no token comes back twice.
 */
export function refundTokenBucket(
  state: TokenBucketState | undefined,
  nowMs: number,
  params: TokenBucketParams,
  cost: number,
  admittedAtMs: number,
): RefundStep<TokenBucketState> | undefined {
  if (state === undefined) return undefined;
  const { capacity, refillPerSecond } = params;
  // Never more than the call took, also when the clock has stepped back since (elapsed < 0).
  const elapsedMs = Math.max(0, nowMs - admittedAtMs);
  const held = Math.max(0, cost - (elapsedMs * refillPerSecond) / 1000);
  const tokens = Math.min(capacity, tokensAt(state, nowMs, params) + held);
  const resetAfterMs = ((capacity - tokens) * 1000) / refillPerSecond;
  return { state: { tokens, updatedAtMs: nowMs }, ttlMs: Math.ceil(resetAfterMs) };
}

/**
 * The tokens in the bucket at `nowMs`: the stored ones plus the refill since, up to capacity. A
 * state stamped up to 1 µs ahead (a call admitted early) counts what it owes until then; a clock
 * that stepped back further counts as no time passed.
 */
function tokensAt(
  state: TokenBucketState | undefined,
  nowMs: number,
  params: TokenBucketParams,
): number {
  const { capacity, refillPerSecond } = params;
  if (state === undefined) return capacity;
  const elapsedMs = Math.max(-EPSILON_MS, nowMs - state.updatedAtMs);
  return Math.min(capacity, state.tokens + (elapsedMs * refillPerSecond) / 1000);
}

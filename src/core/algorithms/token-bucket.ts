import { AlgorithmStep, EPSILON_MS, StepOutput } from './types.js';

/** A bucket of `capacity` tokens refilled continuously at `refillPerSecond`. */
export interface TokenBucketParams {
  readonly capacity: number;
  readonly refillPerSecond: number;
}

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
  const out = scratch;
  decideTokenBucket(
    out,
    state !== undefined,
    state?.tokens ?? 0,
    state?.updatedAtMs ?? 0,
    nowMs,
    params,
    cost,
  );
  return out.toStep(out.allowed ? { tokens: out.state0, updatedAtMs: out.state1 } : state);
}

const scratch = new StepOutput();

/**
 * The token bucket on numbers: the state is `stateTokens`, `stateUpdatedAtMs` (ignored when
 * `hasState` is false); the new one goes to `out.state0` (tokens) and `out.state1` (updatedAtMs).
 */
export function decideTokenBucket(
  out: StepOutput,
  hasState: boolean,
  stateTokens: number,
  stateUpdatedAtMs: number,
  nowMs: number,
  params: TokenBucketParams,
  cost: number,
): boolean {
  const { capacity, refillPerSecond } = params;
  let tokens = capacity;
  if (hasState) {
    const elapsedMs = Math.max(0, nowMs - stateUpdatedAtMs);
    tokens = Math.min(capacity, stateTokens + (elapsedMs * refillPerSecond) / 1000);
  }

  // The tokens 1 µs of refill brings: the slack of EPSILON_MS expressed in tokens.
  const slack = (EPSILON_MS * refillPerSecond) / 1000;
  if (tokens + slack >= cost) {
    const left = Math.max(0, tokens - cost);
    const resetAfterMs = ((capacity - left) * 1000) / refillPerSecond;
    out.allowed = true;
    out.retryAfterMs = 0;
    out.remaining = Math.floor(left + slack);
    out.resetAfterMs = resetAfterMs;
    out.ttlMs = Math.ceil(resetAfterMs);
    out.state0 = left;
    out.state1 = nowMs;
    return true;
  }

  const resetAfterMs = ((capacity - tokens) * 1000) / refillPerSecond;
  // A cost above the capacity is never admitted; answer with the time to fill the whole bucket.
  const missing = cost > capacity ? capacity : cost - tokens;
  out.allowed = false;
  out.retryAfterMs = (missing * 1000) / refillPerSecond;
  out.remaining = Math.floor(tokens + slack);
  out.resetAfterMs = resetAfterMs;
  out.ttlMs = Math.ceil(resetAfterMs);
  return false;
}

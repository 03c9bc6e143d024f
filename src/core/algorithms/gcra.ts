import { AlgorithmStep, EPSILON_MS, StepOutput } from './types.js';

/**
 * Generic Cell Rate Algorithm: `burst` units may arrive at once, then one unit every
 * `emissionIntervalMs` (1000 / ratePerSecond).
 */
export interface GcraParams {
  readonly emissionIntervalMs: number;
  readonly burst: number;
}

/** The theoretical arrival time: when the bucket would be empty again. No state means empty. */
export type GcraState = number;

export function gcra(
  state: GcraState | undefined,
  nowMs: number,
  params: GcraParams,
  cost: number,
): AlgorithmStep<GcraState | undefined> {
  const out = scratch;
  decideGcra(out, state !== undefined, state ?? 0, nowMs, params, cost);
  return out.toStep(out.allowed ? out.state0 : state);
}

const scratch = new StepOutput();

/**
 * GCRA on numbers: the state is `stateTatMs` (ignored when `hasState` is false); the new one goes
 * to `out.state0`.
 */
export function decideGcra(
  out: StepOutput,
  hasState: boolean,
  stateTatMs: number,
  nowMs: number,
  params: GcraParams,
  cost: number,
): boolean {
  const { emissionIntervalMs, burst } = params;
  const tolerance = burst * emissionIntervalMs;
  const tatMs = hasState ? Math.max(stateTatMs, nowMs) : nowMs;
  const newTatMs = tatMs + cost * emissionIntervalMs;
  const allowAtMs = newTatMs - tolerance;

  if (allowAtMs <= nowMs + EPSILON_MS) {
    const resetAfterMs = newTatMs - nowMs;
    const remaining = Math.floor((tolerance - resetAfterMs + EPSILON_MS) / emissionIntervalMs);
    out.allowed = true;
    out.retryAfterMs = 0;
    out.remaining = Math.max(0, remaining);
    out.resetAfterMs = resetAfterMs;
    out.ttlMs = Math.ceil(resetAfterMs);
    out.state0 = newTatMs;
    return true;
  }

  const resetAfterMs = tatMs - nowMs;
  const remaining = Math.floor((tolerance - resetAfterMs + EPSILON_MS) / emissionIntervalMs);
  out.allowed = false;
  // A cost above the burst is never admitted; answer with the time to drain the whole burst.
  out.retryAfterMs = cost > burst ? tolerance : allowAtMs - nowMs;
  out.remaining = Math.max(0, remaining);
  out.resetAfterMs = resetAfterMs;
  out.ttlMs = Math.ceil(resetAfterMs);
  return false;
}

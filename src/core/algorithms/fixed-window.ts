import { AlgorithmStep, StepOutput } from './types.js';

/** Fixed window: at most `limit` units in each clock-aligned bucket of `periodMs`. */
export interface FixedWindowParams {
  readonly limit: number;
  readonly periodMs: number;
}

/** The count of units admitted in the bucket that starts at `windowStartMs`. */
export interface FixedWindowState {
  readonly windowStartMs: number;
  readonly count: number;
}

export function fixedWindow(
  state: FixedWindowState | undefined,
  nowMs: number,
  params: FixedWindowParams,
  cost: number,
): AlgorithmStep<FixedWindowState | undefined> {
  const out = scratch;
  decideFixedWindow(
    out,
    state !== undefined,
    state?.windowStartMs ?? 0,
    state?.count ?? 0,
    nowMs,
    params,
    cost,
  );
  return out.toStep(out.allowed ? { windowStartMs: out.state0, count: out.state1 } : state);
}

const scratch = new StepOutput();

/**
 * The fixed window on numbers: the state is `windowStartMs`, `count` (ignored when `hasState` is
 * false); the new one goes to `out.state0` (windowStartMs) and `out.state1` (count).
 */
export function decideFixedWindow(
  out: StepOutput,
  hasState: boolean,
  stateWindowStartMs: number,
  stateCount: number,
  nowMs: number,
  params: FixedWindowParams,
  cost: number,
): boolean {
  const { limit, periodMs } = params;
  const windowStartMs = Math.floor(nowMs / periodMs) * periodMs;
  const count = hasState && stateWindowStartMs === windowStartMs ? stateCount : 0;
  const resetAfterMs = windowStartMs + periodMs - nowMs;
  out.resetAfterMs = resetAfterMs;
  out.ttlMs = resetAfterMs;

  if (count + cost <= limit) {
    out.allowed = true;
    out.retryAfterMs = 0;
    out.remaining = limit - count - cost;
    out.state0 = windowStartMs;
    out.state1 = count + cost;
    return true;
  }
  // The next bucket starts empty, so any cost within the limit is admitted there. A cost above the
  // limit is never admitted; we answer with the next bucket anyway (there is no "never" on the wire).
  out.allowed = false;
  out.retryAfterMs = resetAfterMs;
  out.remaining = limit - count;
  return false;
}

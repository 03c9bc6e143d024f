import type { BuiltInRateLimit } from '../limits.js';
import type { AlgorithmStep, RefundStep } from './types.js';

export type { AlgorithmName, AlgorithmStep, RefundStep } from './types.js';

/** One step of `limit`'s algorithm on a stored state (undefined: none). */
export function runAlgorithm(
  limit: BuiltInRateLimit,
  state: unknown,
  nowMs: number,
  cost: number,
): AlgorithmStep<unknown> {
  return limit.evaluateState(state, nowMs, cost);
}

/** `cost` given back to a stored state of `limit`; undefined when there is nothing to change. */
export function refundAlgorithm(
  limit: BuiltInRateLimit,
  state: unknown,
  nowMs: number,
  cost: number,
): RefundStep<unknown> | undefined {
  return limit.refundState(state, nowMs, cost);
}

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

/**
 * What a call of `cost` admitted at `admittedAtMs` still holds, given back to a stored state of
 * `limit`; undefined when there is nothing to change.
 */
export function refundAlgorithm(
  limit: BuiltInRateLimit,
  state: unknown,
  nowMs: number,
  cost: number,
  admittedAtMs = nowMs,
): RefundStep<unknown> | undefined {
  return limit.refundState(state, nowMs, cost, admittedAtMs);
}

/**
 * Whether `state` has the shape `limit`'s algorithm stores. A store reading state it did not
 * write in this process (a cache) checks it: a state of another shape (an adapter that stores
 * strings) must fail the call, never read as no state, which would be a fresh allowance.
 */
export function isStateOf(limit: BuiltInRateLimit, state: unknown): boolean {
  switch (limit.algorithm) {
    case 'fixed-window':
      return hasNumbers(state, 'windowStartMs', 'count');
    case 'sliding-window':
    case 'concurrency':
      return Array.isArray(state) && state.every((entry) => typeof entry === 'number');
    case 'token-bucket':
      return hasNumbers(state, 'tokens', 'updatedAtMs');
    case 'gcra':
      return typeof state === 'number' && !Number.isNaN(state);
  }
}

function hasNumbers(state: unknown, ...fields: string[]): boolean {
  if (typeof state !== 'object' || state === null) return false;
  const record = state as Record<string, unknown>;
  return fields.every((field) => typeof record[field] === 'number');
}

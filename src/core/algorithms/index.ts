import { fixedWindow, type FixedWindowState } from './fixed-window.js';
import { gcra, type GcraState } from './gcra.js';
import { slidingWindow, type SlidingWindowState } from './sliding-window.js';
import { tokenBucket, type TokenBucketState } from './token-bucket.js';
import type { AlgorithmStep } from './types.js';
import type { BuiltInRateLimit } from '../limits.js';

export type { AlgorithmName, AlgorithmStep } from './types.js';

/**
 * One algorithm step. The switch gives each algorithm a call site of its own (inlined), where a
 * lookup in a table would be one call site shared by all four. Stores that run the algorithms in
 * process dispatch here.
 */
export function runAlgorithm(
  limit: BuiltInRateLimit,
  state: unknown,
  nowMs: number,
  cost: number,
): AlgorithmStep<unknown> {
  const params = limit.params as never;
  switch (limit.algorithm) {
    case 'fixed-window':
      return fixedWindow(state as FixedWindowState | undefined, nowMs, params, cost);
    case 'sliding-window':
      return slidingWindow(state as SlidingWindowState | undefined, nowMs, params, cost);
    case 'token-bucket':
      return tokenBucket(state as TokenBucketState | undefined, nowMs, params, cost);
    case 'gcra':
      return gcra(state as GcraState | undefined, nowMs, params, cost);
  }
}

import { fixedWindow } from './fixed-window.js';
import { gcra } from './gcra.js';
import { slidingWindow } from './sliding-window.js';
import { tokenBucket } from './token-bucket.js';
import type { AlgorithmName, AlgorithmStep } from './types.js';

export type { AlgorithmName, AlgorithmStep } from './types.js';

/** An algorithm as stores see it: state and params are opaque, only the algorithm reads them. */
export type AnyAlgorithm = (
  state: unknown,
  nowMs: number,
  params: unknown,
  cost: number,
) => AlgorithmStep<unknown>;

/** The TypeScript algorithms by name, for stores that run them in process. */
export const ALGORITHMS: Readonly<Record<AlgorithmName, AnyAlgorithm>> = {
  'fixed-window': fixedWindow as AnyAlgorithm,
  'sliding-window': slidingWindow as AnyAlgorithm,
  'token-bucket': tokenBucket as AnyAlgorithm,
  gcra: gcra as AnyAlgorithm,
};

import { performance } from 'node:perf_hooks';

/** Milliseconds since the epoch, as a function so tests can inject time. */
export type Clock = () => number;

// performance.now() is monotonic; anchoring it once to the wall clock keeps fixed windows aligned
// to the clock while making later wall-clock jumps (NTP, DST, manual changes) irrelevant.
// Imported, not the global: Node's global `performance` is a lazy accessor that runs a getter on
// every read, which was a seventh of an in-memory call (perf record, bench/core.bench.mjs's case).
const anchorMs = Date.now() - performance.now();

/** A monotonic clock in epoch milliseconds. */
export const monotonicClock: Clock = () => anchorMs + performance.now();

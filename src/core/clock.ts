/** Milliseconds since the epoch, as a function so tests can inject time. */
export type Clock = () => number;

// performance.now() is monotonic; anchoring it once to the wall clock keeps fixed windows aligned
// to the clock while making later wall-clock jumps (NTP, DST, manual changes) irrelevant.
const anchorMs = Date.now() - performance.now();

/** A monotonic clock in epoch milliseconds. */
export const monotonicClock: Clock = () => anchorMs + performance.now();

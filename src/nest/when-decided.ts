import type { RateLimitDecision } from '../core/engine.js';

// A decision on the in-memory store is made synchronously: the guard follows it without a promise.

/** `then(decision)` now when the decision was made synchronously, else once it settles. */
export function whenDecided<T>(
  decision: RateLimitDecision | PromiseLike<RateLimitDecision>,
  then: (decision: RateLimitDecision) => T | Promise<T>,
): T | Promise<T> {
  if (isThenable(decision)) return Promise.resolve(decision).then(then);
  return then(decision);
}

/** Any thenable, not only this realm's Promise: a decision has no `then`. */
export function isThenable(
  decision: RateLimitDecision | PromiseLike<RateLimitDecision>,
): decision is PromiseLike<RateLimitDecision> {
  return typeof (decision as Partial<PromiseLike<unknown>>).then === 'function';
}

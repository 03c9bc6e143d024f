import type { RateLimitEvent } from './options.js';

/**
 * Calls the `onDecision` hook; a failing hook never fails the call. An async hook (one that awaits
 * an audit log or a queue) fails by rejecting: left unhandled, that rejection would end the Node
 * process, so it is logged as a thrown error is.
 */
export function callHook(
  hook: (event: RateLimitEvent) => unknown,
  event: RateLimitEvent,
  logger: { warn(message: string): unknown },
): void {
  const failed = (error: unknown): void => {
    logger.warn(`onDecision hook failed: ${describeError(error)}`);
  };
  try {
    const returned = hook(event);
    if (isThenable(returned)) returned.then(undefined, failed);
  } catch (error) {
    failed(error);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * What the hook failed with, as text. Never throws: a value without a string form (a Symbol, a
 * null-prototype object) would otherwise make the warning itself fail the call.
 */
function describeError(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return `a thrown ${typeof error}`;
  }
}

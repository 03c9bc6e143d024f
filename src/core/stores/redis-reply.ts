import { StoreKeyError, StoreUnavailableError, type LimitOutcome } from './store.js';

/** A call of a script call, as its reply answers it. */
export interface AnsweredCall {
  /** How many outcomes the script answers for this call. */
  readonly outcomes: number;
  readonly resolve: (outcomes: readonly LimitOutcome[]) => void;
  readonly reject: (error: unknown) => void;
}

// Per limit, the script answers four little-endian doubles.
const BYTES_PER_OUTCOME = 32;

// Refusals Redis gives every write of the moment, whatever the key (out of memory, a replica or a
// demoted master, a failed snapshot, too few replicas, no master): an outage, not a broken key.
const STORE_WIDE_REFUSAL = /^(?:OOM|READONLY|MISCONF|NOREPLICAS|MASTERDOWN|LOADING)\b/;

/** Hand each call of a script call its outcomes, or its own error. */
export function deliver(calls: readonly AnsweredCall[], reply: unknown): void {
  const unexpected = 'RedisStore: unexpected reply from the rate limit script';
  const bytes = Array.isArray(reply) ? (reply[0] as unknown) : undefined;
  if (!Buffer.isBuffer(bytes)) {
    const text =
      'RedisStore: the Redis client answered text where bytes were asked for; it must pass the per-command typeMapping option (node-redis v5) or offer callBuffer (ioredis)';
    failAll(calls, new StoreUnavailableError(typeof bytes === 'string' ? text : unexpected));
    return;
  }
  const list = reply as unknown[];
  const failures = new Map<number, string>();
  for (let index = 1; index + 1 < list.length; index += 2) {
    failures.set(Number(list[index]), String(list[index + 1]));
  }
  // The batch's time (epoch ms), then per call its outcomes.
  let expected = 8;
  calls.forEach((call, index) => {
    if (!failures.has(index + 1)) expected += call.outcomes * BYTES_PER_OUTCOME;
  });
  if (bytes.length !== expected) {
    failAll(calls, new StoreUnavailableError(unexpected));
    return;
  }
  const atMs = bytes.readDoubleLE(0);
  let at = 8;
  calls.forEach((call, index) => {
    const failure = failures.get(index + 1);
    if (failure !== undefined) {
      // Redis answered: this call alone failed (a foreign value at its key), no outage; unless
      // Redis refuses every write now, which fails every other call too.
      const message = `RedisStore: the rate limit script failed: ${failure}`;
      const storeWide = STORE_WIDE_REFUSAL.test(failure);
      call.reject(storeWide ? new StoreUnavailableError(message) : new StoreKeyError(message));
      return;
    }
    const outcomes = new Array<LimitOutcome>(call.outcomes);
    for (let limit = 0; limit < call.outcomes; limit++, at += BYTES_PER_OUTCOME) {
      outcomes[limit] = {
        allowed: bytes.readDoubleLE(at) === 1,
        retryAfterMs: bytes.readDoubleLE(at + 8),
        remaining: bytes.readDoubleLE(at + 16),
        resetAfterMs: bytes.readDoubleLE(at + 24),
        atMs,
      };
    }
    call.resolve(outcomes);
  });
}

function failAll(calls: readonly AnsweredCall[], error: unknown): void {
  for (const call of calls) call.reject(error);
}

import {
  ConcurrencyLimit,
  FixedWindowRateLimit,
  GcraRateLimit,
  SlidingWindowRateLimit,
  TokenBucketRateLimit,
  encodeKeyPart,
  type BuiltInRateLimit,
} from '../../src/index.js';

/**
 * One call of a scenario: when it happens (ms after the scenario's start, which is aligned to a
 * day, so every window in here starts at 0) and what the store must decide.
 */
export interface Step {
  readonly at: number;
  /**
   * What the step does (default `consume`): `peek` decides without counting (its `remaining` is
   * what is left before the call), `refund` gives back what the call of step `refunds` still holds,
   * `reset` forgets the subject, `release` frees the concurrency slots of the call of step
   * `refunds`. `refund`, `reset` and `release` answer nothing: `allowed` is ignored for them.
   */
  readonly action?: 'consume' | 'peek' | 'refund' | 'reset' | 'release';
  /** For a `refund` or a `release`: the number (1-based) of the step whose decision it names. */
  readonly refunds?: number;
  readonly subject?: string;
  /** The handler scope (default `tools/call:demo`). */
  readonly scope?: string;
  readonly cost?: number;
  readonly allowed: boolean;
  /** Exact retryAfter in ms when denied (compared to 6 decimals). */
  readonly retryAfterMs?: number;
  /** The wire value in whole seconds when denied. */
  readonly retryAfter?: number;
  /** `remaining` of each limit, in declared order. */
  readonly remaining?: readonly number[];
  /** `resetAfterMs` of each limit, in declared order (compared to 6 decimals). */
  readonly resetAfterMs?: readonly number[];
}

export interface Scenario {
  readonly name: string;
  /**
   * One call has keys under several subjects (a limit with its own `key`). A Redis Cluster refuses
   * such calls by design (their keys are in different slots): there the suite expects the refusal.
   */
  readonly keysUnderSeveralSubjects?: true;
  readonly limits: () => BuiltInRateLimit[];
  readonly steps: readonly Step[];
}

const fixed = (maxCalls: number, perSeconds: number, namespace?: string) =>
  new FixedWindowRateLimit({
    maxCalls,
    perSeconds,
    ...(namespace === undefined ? {} : { namespace }),
  });

/** The table every store must pass. A new store is tested by adding one line to conformance.test.ts. */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'fixed window: admits maxCalls, then waits for the next clock-aligned window',
    limits: () => [fixed(3, 10)],
    steps: [
      { at: 0, allowed: true, remaining: [2] },
      { at: 0, allowed: true, remaining: [1] },
      { at: 0, allowed: true, remaining: [0] },
      { at: 0, allowed: false, retryAfterMs: 10_000, retryAfter: 10 },
      { at: 9_999, allowed: false, retryAfterMs: 1, retryAfter: 1 },
      { at: 10_000, allowed: true, remaining: [2] },
    ],
  },
  {
    name: 'fixed window: retryAfter counts to the window boundary, not a full period',
    limits: () => [fixed(2, 10)],
    steps: [
      { at: 4_000, allowed: true },
      { at: 4_500, allowed: true },
      { at: 4_500, allowed: false, retryAfterMs: 5_500, retryAfter: 6 },
      { at: 9_000, allowed: false, retryAfterMs: 1_000, retryAfter: 1 },
      { at: 10_000, allowed: true, remaining: [1] },
    ],
  },
  {
    name: 'fixed window: costs count as units; a denied cost leaves room for a smaller one',
    limits: () => [fixed(3, 10)],
    steps: [
      { at: 0, cost: 2, allowed: true, remaining: [1] },
      { at: 0, cost: 2, allowed: false, retryAfterMs: 10_000 },
      { at: 0, cost: 1, allowed: true, remaining: [0] },
      { at: 1_000, cost: 0, allowed: true, remaining: [0] },
    ],
  },
  {
    name: 'fixed window: subjects and handlers have separate counters',
    limits: () => [fixed(1, 10)],
    steps: [
      { at: 0, subject: 'user:a', allowed: true },
      { at: 0, subject: 'user:b', allowed: true },
      { at: 0, subject: 'user:a', scope: 'tools/call:other', allowed: true },
      { at: 0, subject: 'user:a', allowed: false, retryAfter: 10 },
    ],
  },
  {
    name: 'namespace: limits of one namespace share counters across handlers',
    limits: () => [fixed(2, 10, 'shared')],
    steps: [
      { at: 0, scope: 'tools/call:one', allowed: true },
      { at: 0, scope: 'tools/call:two', allowed: true },
      { at: 0, scope: 'tools/call:three', allowed: false, retryAfterMs: 10_000 },
    ],
  },
  {
    name: 'keys: odd subjects (braces, colons, unicode, lone surrogates, huge) never collide',
    limits: () => [fixed(1, 10)],
    steps: [
      { at: 0, subject: 'a:b', scope: 'c', allowed: true },
      { at: 0, subject: 'a', scope: 'b:c', allowed: true },
      { at: 0, subject: '}{x}', allowed: true },
      { at: 0, subject: '}{x}', allowed: false },
      { at: 0, subject: 'ünï😀', allowed: true },
      { at: 0, subject: '\ud800', allowed: true },
      { at: 0, subject: '\udc00', allowed: true },
      { at: 0, subject: '\ud800', allowed: false },
      { at: 0, subject: '\ud800\udc00', allowed: true }, // U+10000: a pair, not the lone halves
      { at: 0, subject: '\ud800\udc00', allowed: false },
      { at: 0, subject: '\udc00\ud800', allowed: true },
      { at: 0, subject: 'x'.repeat(100_000), allowed: true },
      { at: 0, subject: `${'x'.repeat(99_999)}y`, allowed: true },
      { at: 0, subject: 'x'.repeat(100_000), allowed: false },
      // Spelled like the MemoryStore's member for the long subject above: still a subject of its own.
      { at: 0, subject: `\ud800${encodeKeyPart('x'.repeat(100_000))}`, allowed: true },
      { at: 0, subject: `\ud800${encodeKeyPart('x'.repeat(100_000))}`, allowed: false },
    ],
  },
  {
    name: 'sliding window: exact rolling window, retryAfter to the oldest entry leaving it',
    limits: () => [new SlidingWindowRateLimit({ maxCalls: 3, perSeconds: 10 })],
    steps: [
      { at: 0, allowed: true, remaining: [2] },
      { at: 2_000, allowed: true, remaining: [1] },
      { at: 4_000, allowed: true, remaining: [0] },
      { at: 5_000, allowed: false, retryAfterMs: 5_000, retryAfter: 5 },
      { at: 9_999, allowed: false, retryAfterMs: 1, retryAfter: 1 },
      { at: 10_000, allowed: true, remaining: [0] },
      { at: 10_500, allowed: false, retryAfterMs: 1_500, retryAfter: 2 },
      { at: 12_000, allowed: true },
    ],
  },
  {
    name: 'sliding window: a call of cost n waits for n entries to leave',
    limits: () => [new SlidingWindowRateLimit({ maxCalls: 4, perSeconds: 10 })],
    steps: [
      { at: 0, allowed: true },
      { at: 1_000, allowed: true },
      { at: 2_000, cost: 2, allowed: true, remaining: [0] },
      { at: 3_000, cost: 2, allowed: false, retryAfterMs: 8_000, retryAfter: 8 },
      { at: 3_000, cost: 1, allowed: false, retryAfterMs: 7_000 },
      { at: 11_000, cost: 2, allowed: true, remaining: [0] },
    ],
  },
  {
    name: 'sliding window: no boundary burst (unlike a fixed window)',
    limits: () => [new SlidingWindowRateLimit({ maxCalls: 2, perSeconds: 10 })],
    steps: [
      { at: 9_000, allowed: true },
      { at: 9_500, allowed: true },
      { at: 10_000, allowed: false, retryAfterMs: 9_000 },
      { at: 19_000, allowed: true },
    ],
  },
  {
    name: 'token bucket: a full bucket absorbs a burst, then the refill rate',
    limits: () => [new TokenBucketRateLimit({ capacity: 3, refillPerSecond: 1 })],
    steps: [
      { at: 0, allowed: true, remaining: [2] },
      { at: 0, allowed: true, remaining: [1] },
      { at: 0, allowed: true, remaining: [0] },
      { at: 0, allowed: false, retryAfterMs: 1_000, retryAfter: 1 },
      { at: 500, allowed: false, retryAfterMs: 500, retryAfter: 1 },
      { at: 1_000, allowed: true, remaining: [0] },
      { at: 1_000, cost: 2, allowed: false, retryAfterMs: 2_000, retryAfter: 2 },
      { at: 3_000, cost: 2, allowed: true, remaining: [0] },
    ],
  },
  {
    name: 'token bucket: fractional refill rate rounds retryAfter up',
    limits: () => [new TokenBucketRateLimit({ capacity: 1, refillPerSecond: 0.3 })],
    steps: [
      { at: 0, allowed: true },
      { at: 0, allowed: false, retryAfterMs: 1000 / 0.3, retryAfter: 4 },
      { at: 3_000, allowed: false, retryAfter: 1 },
      { at: 3_334, allowed: true },
    ],
  },
  {
    name: 'token bucket: refill stops at capacity',
    limits: () => [new TokenBucketRateLimit({ capacity: 2, refillPerSecond: 1 })],
    steps: [
      { at: 0, allowed: true },
      { at: 100_000, allowed: true, remaining: [1] },
      { at: 100_000, allowed: true, remaining: [0] },
      { at: 100_000, allowed: false, retryAfterMs: 1_000 },
    ],
  },
  {
    name: 'gcra: burst at once, then one per emission interval',
    limits: () => [new GcraRateLimit({ ratePerSecond: 1, burst: 3 })],
    steps: [
      { at: 0, allowed: true, remaining: [2] },
      { at: 0, allowed: true, remaining: [1] },
      { at: 0, allowed: true, remaining: [0] },
      { at: 0, allowed: false, retryAfterMs: 1_000, retryAfter: 1 },
      { at: 999, allowed: false, retryAfterMs: 1, retryAfter: 1 },
      { at: 1_000, allowed: true, remaining: [0] },
      { at: 1_500, allowed: false, retryAfterMs: 500 },
      { at: 10_000, allowed: true, remaining: [2] },
    ],
  },
  {
    name: 'gcra: fractional rate',
    limits: () => [new GcraRateLimit({ ratePerSecond: 0.4, burst: 1 })],
    steps: [
      { at: 0, allowed: true },
      { at: 1_000, allowed: false, retryAfterMs: 1_500, retryAfter: 2 },
      { at: 2_499, allowed: false, retryAfter: 1 },
      { at: 2_500, allowed: true },
    ],
  },
  {
    name: 'two limits: a call denied by one consumes nothing in the other',
    limits: () => [fixed(2, 10, 'burst'), fixed(3, 100, 'daily')],
    steps: [
      { at: 0, allowed: true, remaining: [1, 2] },
      { at: 0, allowed: true, remaining: [0, 1] },
      // Denied by burst: daily must stay at 2 used (1 remaining).
      { at: 0, allowed: false, retryAfterMs: 10_000, remaining: [0, 1] },
      { at: 0, allowed: false, retryAfterMs: 10_000, remaining: [0, 1] },
      { at: 10_000, allowed: true, remaining: [1, 0] },
      // Denied by daily: burst must stay at 1 used (1 remaining).
      { at: 10_000, allowed: false, retryAfterMs: 90_000, retryAfter: 90, remaining: [1, 0] },
      { at: 10_000, allowed: false, remaining: [1, 0] },
    ],
  },
  {
    name: 'two limits: retryAfter is the longest among the limits that deny',
    limits: () => [
      new TokenBucketRateLimit({ capacity: 1, refillPerSecond: 1 }),
      new SlidingWindowRateLimit({ maxCalls: 1, perSeconds: 30 }),
    ],
    steps: [
      { at: 0, allowed: true },
      { at: 0, allowed: false, retryAfterMs: 30_000, retryAfter: 30 },
      { at: 29_000, allowed: false, retryAfterMs: 1_000 },
      { at: 30_000, allowed: true },
    ],
  },
  {
    name: 'four algorithms on one call',
    limits: () => [
      fixed(2, 10),
      new SlidingWindowRateLimit({ maxCalls: 3, perSeconds: 10 }),
      new TokenBucketRateLimit({ capacity: 4, refillPerSecond: 1 }),
      new GcraRateLimit({ ratePerSecond: 1, burst: 5 }),
    ],
    steps: [
      {
        at: 0,
        allowed: true,
        remaining: [1, 2, 3, 4],
        // Fixed and sliding windows: until the window is whole again; bucket and GCRA: until full.
        resetAfterMs: [10_000, 10_000, 1_000, 1_000],
      },
      {
        at: 0,
        allowed: true,
        remaining: [0, 1, 2, 3],
        resetAfterMs: [10_000, 10_000, 2_000, 2_000],
      },
      { at: 0, allowed: false, retryAfterMs: 10_000, remaining: [0, 1, 2, 3] },
      {
        at: 10_000,
        allowed: true,
        remaining: [1, 2, 3, 4],
        resetAfterMs: [10_000, 10_000, 1_000, 1_000],
      },
    ],
  },
  {
    name: 'two limits at a cost of 2: when one denies, the other keeps its count',
    limits: () => [fixed(5, 10), fixed(3, 60)],
    steps: [
      { at: 0, cost: 2, allowed: true, remaining: [3, 1] },
      // The first limit alone would admit; the call as a whole does not, so it counts nothing.
      { at: 0, cost: 2, allowed: false, retryAfterMs: 60_000, remaining: [3, 1] },
      { at: 0, cost: 1, allowed: true, remaining: [2, 0] },
      { at: 10_000, cost: 2, allowed: false, retryAfterMs: 50_000, remaining: [5, 0] },
      { at: 60_000, cost: 2, allowed: true, remaining: [3, 1] },
    ],
  },
  {
    name: 'a limit keyed by its own key(context) beside one keyed by the subject',
    keysUnderSeveralSubjects: true,
    limits: () => [
      fixed(2, 10),
      new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 10, key: () => 'team:blue' }),
    ],
    steps: [
      { at: 0, subject: 'user:alice', allowed: true, remaining: [1, 2] },
      { at: 0, subject: 'user:bob', allowed: true, remaining: [1, 1] },
      { at: 0, subject: 'user:carol', allowed: true, remaining: [1, 0] },
      // The team's limit is used up: dave's own limit would admit, so nothing counts for him.
      { at: 0, subject: 'user:dave', allowed: false, retryAfterMs: 10_000, remaining: [2, 0] },
      { at: 0, subject: 'user:alice', allowed: false, retryAfterMs: 10_000, remaining: [1, 0] },
      { at: 10_000, subject: 'user:dave', allowed: true, remaining: [1, 2] },
    ],
  },
  {
    name: 'refund, fixed window: the call gives back its units while its window lasts, once',
    limits: () => [fixed(3, 10)],
    steps: [
      { at: 0, allowed: true, remaining: [2] }, // A
      { at: 0, cost: 2, allowed: true, remaining: [0] }, // B
      { at: 1_000, action: 'refund', refunds: 2, allowed: true },
      { at: 1_000, action: 'refund', refunds: 2, allowed: true }, // once only
      { at: 1_000, cost: 2, allowed: true, remaining: [0] },
      { at: 1_000, allowed: false, retryAfterMs: 9_000 },
      { at: 1_000, action: 'refund', refunds: 6, allowed: true }, // a denial took nothing
      { at: 1_000, allowed: false, retryAfterMs: 9_000 },
      // A's window has ended: its unit is free already, the new window gets nothing back.
      { at: 10_500, cost: 3, allowed: true, remaining: [0] },
      { at: 10_500, action: 'refund', refunds: 1, allowed: true },
      { at: 10_500, allowed: false, retryAfterMs: 9_500 },
    ],
  },
  {
    name: 'refund, fixed window: a reset since the call voids its refund',
    limits: () => [fixed(1, 10)],
    steps: [
      { at: 0, allowed: true }, // A
      { at: 0, action: 'reset', allowed: true },
      { at: 0, allowed: true }, // B, the fresh allowance
      { at: 0, action: 'refund', refunds: 1, allowed: true },
      { at: 0, allowed: false, retryAfterMs: 10_000 },
    ],
  },
  {
    name: 'refund, sliding window: the entries of the call leave, while they are live',
    limits: () => [new SlidingWindowRateLimit({ maxCalls: 2, perSeconds: 10 })],
    steps: [
      { at: 0, allowed: true }, // A
      { at: 5_000, allowed: true, remaining: [0] }, // B
      { at: 6_000, allowed: false, retryAfterMs: 4_000 },
      { at: 6_000, action: 'refund', refunds: 2, allowed: true },
      // B's entry of 5 000 is gone, A's of 0 stays.
      { at: 6_000, allowed: true, remaining: [0], resetAfterMs: [10_000] },
      { at: 6_000, allowed: false, retryAfterMs: 4_000 },
      // A's entry has left the window: refunding A gives nothing back.
      { at: 10_000, action: 'refund', refunds: 1, allowed: true },
      { at: 10_000, allowed: true, remaining: [0] },
      { at: 10_000, allowed: false, retryAfterMs: 6_000 },
    ],
  },
  {
    name: 'refund, token bucket: what the refill has not brought back comes back; never above capacity',
    limits: () => [new TokenBucketRateLimit({ capacity: 3, refillPerSecond: 1 })],
    steps: [
      { at: 0, cost: 2, allowed: true, remaining: [1] }, // A
      { at: 0, allowed: true, remaining: [0] }, // B
      // A took 2 tokens; 1 s of refill has brought 1 back: 1 comes back (1 + 1 = 2 tokens).
      { at: 1_000, action: 'refund', refunds: 1, allowed: true },
      { at: 1_000, cost: 2, allowed: true, remaining: [0] }, // C
      { at: 1_000, allowed: false, retryAfterMs: 1_000 },
      { at: 1_000, action: 'refund', refunds: 1, allowed: true }, // once only
      { at: 1_000, action: 'refund', refunds: 2, allowed: true }, // B's token is back already
      { at: 1_000, allowed: false, retryAfterMs: 1_000 },
      { at: 1_000, action: 'refund', refunds: 4, allowed: true }, // C, right away: 2 tokens
      { at: 1_000, allowed: true, remaining: [1], resetAfterMs: [2_000] },
    ],
  },
  {
    name: 'refund, GCRA: the arrival time moves back by what the call still holds, never before now',
    limits: () => [new GcraRateLimit({ ratePerSecond: 1, burst: 2 })],
    steps: [
      { at: 0, allowed: true }, // A
      { at: 0, allowed: true, remaining: [0] }, // B
      { at: 0, allowed: false, retryAfterMs: 1_000 },
      { at: 0, action: 'refund', refunds: 2, allowed: true },
      { at: 0, allowed: true, remaining: [0] }, // C
      { at: 0, action: 'refund', refunds: 2, allowed: true }, // once only
      { at: 0, allowed: false, retryAfterMs: 1_000 },
      { at: 1_500, allowed: true, remaining: [0] }, // D
      // D holds 1 000 ms of the arrival time; 200 ms have drained: 800 ms come back.
      { at: 1_700, action: 'refund', refunds: 8, allowed: true },
      { at: 1_700, action: 'refund', refunds: 1, allowed: true }, // A's emission has drained
      { at: 1_700, allowed: true, remaining: [0] },
      { at: 1_700, allowed: false, retryAfterMs: 500 },
    ],
  },
  {
    name: 'refund of two limits: each gets the cost back',
    limits: () => [fixed(2, 10, 'burst'), new GcraRateLimit({ ratePerSecond: 0.1, burst: 3 })],
    steps: [
      { at: 0, allowed: true, remaining: [1, 2] },
      { at: 0, allowed: true, remaining: [0, 1] },
      { at: 0, action: 'refund', refunds: 2, allowed: true },
      { at: 0, allowed: true, remaining: [0, 1] },
      { at: 0, allowed: false, retryAfterMs: 10_000, remaining: [0, 1] },
    ],
  },
  {
    name: 'peek: decides without counting; remaining is what is left before the call',
    limits: () => [fixed(3, 10), new TokenBucketRateLimit({ capacity: 5, refillPerSecond: 1 })],
    steps: [
      { at: 0, action: 'peek', allowed: true, remaining: [3, 5] },
      { at: 0, allowed: true, remaining: [2, 4] },
      { at: 0, action: 'peek', allowed: true, remaining: [2, 4] },
      { at: 0, action: 'peek', cost: 3, allowed: false, retryAfterMs: 10_000, remaining: [2, 4] },
      { at: 0, cost: 2, allowed: true, remaining: [0, 2] },
      { at: 1_000, action: 'peek', allowed: false, retryAfterMs: 9_000, remaining: [0, 3] },
      { at: 10_000, action: 'peek', allowed: true, remaining: [3, 5] },
    ],
  },
  {
    name: 'reset: the subject starts afresh in every limit; other subjects keep their state',
    limits: () => [fixed(2, 10), new SlidingWindowRateLimit({ maxCalls: 3, perSeconds: 60 })],
    steps: [
      { at: 0, subject: 'user:bob', allowed: true, remaining: [1, 2] },
      { at: 0, allowed: true },
      { at: 0, allowed: true, remaining: [0, 1] },
      { at: 0, allowed: false, retryAfterMs: 10_000 },
      { at: 1_000, action: 'reset', allowed: true },
      { at: 1_000, allowed: true, remaining: [1, 2] },
      { at: 1_000, subject: 'user:bob', allowed: true, remaining: [0, 1] },
      { at: 1_000, action: 'reset', subject: 'user:nobody', allowed: true }, // nothing to forget
      { at: 1_000, allowed: true, remaining: [0, 1] },
    ],
  },
  {
    name: 'reset: odd subjects (braces, huge, lone surrogates) are found and forgotten',
    limits: () => [fixed(1, 10)],
    steps: [
      { at: 0, subject: '}{x}', allowed: true },
      { at: 0, subject: 'x'.repeat(10_000), allowed: true },
      { at: 0, subject: '\ud800', allowed: true },
      { at: 0, subject: '}{x}', allowed: false },
      { at: 0, subject: 'x'.repeat(10_000), allowed: false },
      { at: 0, subject: '\ud800', allowed: false },
      { at: 0, subject: '}{x}', action: 'reset', allowed: true },
      { at: 0, subject: 'x'.repeat(10_000), action: 'reset', allowed: true },
      { at: 0, subject: '\ud800', action: 'reset', allowed: true },
      { at: 0, subject: '}{x}', allowed: true },
      { at: 0, subject: 'x'.repeat(10_000), allowed: true },
      { at: 0, subject: '\ud800', allowed: true },
    ],
  },
  {
    name: 'concurrency: maxConcurrent in flight; a release frees its slot once; retryAfter is the soonest lease expiry',
    limits: () => [new ConcurrencyLimit({ maxConcurrent: 2, leaseSeconds: 10 })],
    steps: [
      { at: 0, allowed: true, remaining: [1], resetAfterMs: [10_000] }, // A, lease to 10 000
      { at: 1_000, allowed: true, remaining: [0], resetAfterMs: [10_000] }, // B, to 11 000
      { at: 2_000, allowed: false, retryAfterMs: 8_000, retryAfter: 8, remaining: [0] },
      { at: 2_000, action: 'peek', allowed: false, retryAfterMs: 8_000, remaining: [0] },
      { at: 3_000, action: 'release', refunds: 1, allowed: true },
      { at: 3_000, action: 'release', refunds: 1, allowed: true }, // once only
      { at: 3_000, action: 'peek', allowed: true, remaining: [1] },
      { at: 3_000, allowed: true, remaining: [0] }, // C, to 13 000
      { at: 3_000, allowed: false, retryAfterMs: 8_000 },
      { at: 3_000, action: 'release', refunds: 9, allowed: true }, // a denial holds nothing
      { at: 3_000, allowed: false, retryAfterMs: 8_000 },
      // B's lease has expired: its slot is free, and releasing B frees nobody else's.
      { at: 11_000, allowed: true, remaining: [0], resetAfterMs: [10_000] }, // D, to 21 000
      { at: 11_000, action: 'release', refunds: 2, allowed: true },
      { at: 11_000, allowed: false, retryAfterMs: 2_000, retryAfter: 2 },
    ],
  },
  {
    name: 'concurrency: one slot per call whatever its cost; a retryAfter under a second is 1 s on the wire',
    limits: () => [new ConcurrencyLimit({ maxConcurrent: 2, leaseSeconds: 5 })],
    steps: [
      { at: 0, cost: 3, allowed: true, remaining: [1] },
      { at: 4_500, cost: 0, allowed: true, remaining: [0] },
      { at: 4_800, allowed: false, retryAfterMs: 200, retryAfter: 1 },
      { at: 5_000, allowed: true, remaining: [0], resetAfterMs: [5_000] },
    ],
  },
  {
    name: 'concurrency beside a fixed window: all or nothing; refund gives back the rate, release the slot, each once',
    limits: () => [new ConcurrencyLimit({ maxConcurrent: 1 }), fixed(3, 10)],
    steps: [
      { at: 0, allowed: true, remaining: [0, 2] }, // A
      // The fixed window alone would admit; the call as a whole does not, so it counts nothing.
      { at: 0, allowed: false, retryAfterMs: 60_000, retryAfter: 60, remaining: [0, 2] },
      { at: 0, action: 'refund', refunds: 1, allowed: true }, // the unit comes back, not the slot
      { at: 0, allowed: false, retryAfterMs: 60_000, remaining: [0, 3] },
      { at: 0, action: 'release', refunds: 1, allowed: true },
      { at: 0, allowed: true, remaining: [0, 2] }, // F
      { at: 0, action: 'release', refunds: 1, allowed: true }, // once only
      { at: 0, action: 'refund', refunds: 1, allowed: true }, // once only
      { at: 0, allowed: false, retryAfterMs: 60_000, remaining: [0, 2] },
      { at: 0, action: 'release', refunds: 6, allowed: true }, // F
      { at: 0, allowed: true, remaining: [0, 1] },
      { at: 0, action: 'release', refunds: 11, allowed: true },
      { at: 0, allowed: true, remaining: [0, 0] },
      // The slot is held and the rate used up: the longer wait (the lease) is the answer.
      { at: 0, allowed: false, retryAfterMs: 60_000, remaining: [0, 0] },
    ],
  },
  {
    name: 'concurrency: after a reset the subject starts afresh; a release of an earlier call frees nothing',
    limits: () => [new ConcurrencyLimit({ maxConcurrent: 1, leaseSeconds: 30 })],
    steps: [
      { at: 0, allowed: true }, // A
      { at: 500, action: 'reset', allowed: true },
      { at: 1_000, allowed: true, remaining: [0] }, // B
      { at: 1_000, action: 'release', refunds: 1, allowed: true },
      { at: 1_000, allowed: false, retryAfterMs: 30_000 },
    ],
  },
];

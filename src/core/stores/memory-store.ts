import { fixedWindow, type FixedWindowState } from '../algorithms/fixed-window.js';
import { gcra, type GcraState } from '../algorithms/gcra.js';
import { ALGORITHMS } from '../algorithms/index.js';
import { slidingWindow, type SlidingWindowState } from '../algorithms/sliding-window.js';
import { tokenBucket, type TokenBucketState } from '../algorithms/token-bucket.js';
import type { AlgorithmStep } from '../algorithms/types.js';
import { monotonicClock, type Clock } from '../clock.js';
import type { BuiltInRateLimit } from '../limits.js';
import { encodeKeyPart } from '../subject.js';
import type { LimitCheck, LimitOutcome, RateLimitStore } from './store.js';

export interface MemoryStoreOptions {
  /** Epoch milliseconds; monotonic by default. Inject one in tests. */
  readonly clock?: Clock;
  /** How often expired keys are swept away (default 10 s). The timer never keeps the process alive. */
  readonly sweepIntervalMs?: number;
}

interface Entry {
  state: unknown;
  expiresAtMs: number;
}

/**
 * The state of one key space: subject (see `memberOf`) → entry. Opaque outside this file; the
 * engine gets one per limit from `keySpace()` and hands it back.
 */
export type KeySpace = Map<string, Entry>;

/** One limit of a call, addressed the engine's way: a key space and the subject in it. */
export interface SubjectCheck {
  readonly space: KeySpace;
  readonly subject: string;
  readonly limit: BuiltInRateLimit;
  readonly cost: number;
}

/** Longest subject kept as it is in a key space (the same bound as `encodeKeyPart`). */
const MAX_MEMBER_LENGTH = 256;

/**
 * The key of a subject inside a key space. Inside one space the subject is the only variable part,
 * so it needs no length prefix: short well-formed subjects are used as they are (no new string, no
 * new hash). Others become their bounded hash behind a lone surrogate, which no well-formed subject
 * contains, so the two forms cannot collide.
 */
function memberOf(subject: string): string {
  if (subject.length <= MAX_MEMBER_LENGTH && subject.isWellFormed()) return subject;
  return `\uD800${encodeKeyPart(subject)}`;
}

/**
 * The embedded default store: a Map in this process. Exact under any concurrency inside the
 * process, because a whole evaluation runs synchronously (no await between check and commit).
 * Not shared between processes: use the Redis store for several instances.
 *
 * Keys given to `evaluate` are used as they are. The engine addresses its keys as a key space
 * (`<prefix><scope or namespace><limit id>`, everything of the storage key but the subject) plus the
 * subject, and decides synchronously (`evaluateSubjectsNow`): no long key to build and hash per call,
 * and the key space's name is stored once, not once per subject.
 */
export class MemoryStore implements RateLimitStore {
  private readonly entries = new Map<string, Entry>();
  /** Key spaces by name. Never removed (their number is bounded by the configured limits). */
  private readonly spaces = new Map<string, KeySpace>();
  private readonly clock: Clock;
  private readonly sweepIntervalMs: number;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    this.clock = options.clock ?? monotonicClock;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
  }

  evaluate(checks: readonly LimitCheck[]): Promise<readonly LimitOutcome[]> {
    return Promise.resolve(this.evaluateNow(checks));
  }

  /** The same as `evaluate`, synchronously. */
  evaluateNow(checks: readonly LimitCheck[]): readonly LimitOutcome[] {
    const nowMs = this.clock();
    if (checks.length === 1) {
      // The common case, without the arrays of the general one.
      const check = checks[0];
      return [this.decide(this.entries, check.key, check.limit, check.cost, nowMs)];
    }

    const steps: AlgorithmStep<unknown>[] = [];
    let allAllowed = true;
    for (const check of checks) {
      const step = this.step(check.limit, this.entries.get(check.key), nowMs, check.cost);
      steps.push(step);
      if (!step.allowed) allAllowed = false;
    }
    if (allAllowed) {
      for (let index = 0; index < checks.length; index++) {
        this.commit(this.entries, checks[index].key, steps[index], nowMs);
      }
    }
    return steps;
  }

  /**
   * The key space of this name (created on first use): the engine's keys without their subject.
   * @internal used by the engine.
   */
  keySpace(name: string): KeySpace {
    let space = this.spaces.get(name);
    if (space === undefined) {
      space = new Map();
      this.spaces.set(name, space);
    }
    return space;
  }

  /**
   * Decide one limit of `subject` in `space` now, committing when it admits.
   * @internal used by the engine.
   */
  evaluateSubjectNow(
    space: KeySpace,
    subject: string,
    limit: BuiltInRateLimit,
    cost: number,
  ): AlgorithmStep<unknown> {
    // The hot path of every in-memory call: kept flat so that it inlines.
    const nowMs = this.clock();
    const member = memberOf(subject);
    const entry = space.get(member);
    const state = entry !== undefined && entry.expiresAtMs > nowMs ? entry.state : undefined;
    const step = runAlgorithm(limit, state, nowMs, cost);
    if (step.allowed) {
      if (entry === undefined) this.insert(space, member, step, nowMs);
      else update(entry, step, nowMs);
    }
    return step;
  }

  /**
   * Decide several limits now, all or nothing: commit every one only when all admit.
   * @internal used by the engine.
   */
  evaluateSubjectsNow(checks: readonly SubjectCheck[]): AlgorithmStep<unknown>[] {
    const nowMs = this.clock();
    const members: string[] = [];
    const steps: AlgorithmStep<unknown>[] = [];
    let allAllowed = true;
    for (const check of checks) {
      const member = memberOf(check.subject);
      const step = this.step(check.limit, check.space.get(member), nowMs, check.cost);
      members.push(member);
      steps.push(step);
      if (!step.allowed) allAllowed = false;
    }
    if (allAllowed) {
      for (let index = 0; index < checks.length; index++) {
        this.commit(checks[index].space, members[index], steps[index], nowMs);
      }
    }
    return steps;
  }

  /** Number of keys held (expired ones included until the next sweep). */
  get size(): number {
    let size = this.entries.size;
    for (const space of this.spaces.values()) size += space.size;
    return size;
  }

  /** Remove every expired key now. */
  sweep(): void {
    const nowMs = this.clock();
    sweepMap(this.entries, nowMs);
    for (const space of this.spaces.values()) sweepMap(space, nowMs);
    if (this.size === 0) this.stopSweeping();
  }

  /** Drop all state and stop the sweep timer. */
  close(): void {
    this.entries.clear();
    // Emptied, not dropped: engines keep references to their key spaces.
    for (const space of this.spaces.values()) space.clear();
    this.stopSweeping();
  }

  private decide(
    map: Map<string, Entry>,
    key: string,
    limit: BuiltInRateLimit,
    cost: number,
    nowMs: number,
  ): AlgorithmStep<unknown> {
    const entry = map.get(key);
    const step = this.step(limit, entry, nowMs, cost);
    if (step.allowed) {
      if (entry === undefined) this.insert(map, key, step, nowMs);
      else update(entry, step, nowMs);
    }
    return step;
  }

  private step(
    limit: BuiltInRateLimit,
    entry: Entry | undefined,
    nowMs: number,
    cost: number,
  ): AlgorithmStep<unknown> {
    const state = entry !== undefined && entry.expiresAtMs > nowMs ? entry.state : undefined;
    return runAlgorithm(limit, state, nowMs, cost);
  }

  private commit(
    map: Map<string, Entry>,
    key: string,
    step: AlgorithmStep<unknown>,
    nowMs: number,
  ): void {
    // Looked up again: one call may carry the same key twice (the last step wins, as it always has).
    const entry = map.get(key);
    if (entry === undefined) this.insert(map, key, step, nowMs);
    else update(entry, step, nowMs);
  }

  private insert(
    map: Map<string, Entry>,
    key: string,
    step: AlgorithmStep<unknown>,
    nowMs: number,
  ): void {
    map.set(key, { state: step.state, expiresAtMs: nowMs + step.ttlMs });
    if (this.sweepTimer === undefined) {
      this.sweepTimer = setInterval(() => this.sweep(), this.sweepIntervalMs);
      this.sweepTimer.unref();
    }
  }

  private stopSweeping(): void {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }
}

/**
 * One algorithm step. The switch gives each algorithm a call site of its own (inlined), where a
 * lookup in ALGORITHMS would be one call site shared by all four.
 */
function runAlgorithm(
  limit: BuiltInRateLimit,
  state: unknown,
  nowMs: number,
  cost: number,
): AlgorithmStep<unknown> {
  const params = limit.params as never;
  const algorithm: string = limit.algorithm;
  switch (algorithm) {
    case 'fixed-window':
      return fixedWindow(state as FixedWindowState | undefined, nowMs, params, cost);
    case 'sliding-window':
      return slidingWindow(state as SlidingWindowState | undefined, nowMs, params, cost);
    case 'token-bucket':
      return tokenBucket(state as TokenBucketState | undefined, nowMs, params, cost);
    case 'gcra':
      return gcra(state as GcraState | undefined, nowMs, params, cost);
    default:
      // Not reached by the built-in limits; kept so that a new algorithm works before it is listed.
      return ALGORITHMS[limit.algorithm](state, nowMs, limit.params, cost);
  }
}

function update(entry: Entry, step: AlgorithmStep<unknown>, nowMs: number): void {
  entry.state = step.state;
  entry.expiresAtMs = nowMs + step.ttlMs;
}

function sweepMap(map: Map<string, Entry>, nowMs: number): void {
  for (const [key, entry] of map) {
    if (entry.expiresAtMs <= nowMs) map.delete(key);
  }
}

import { fixedWindow, type FixedWindowState } from '../algorithms/fixed-window.js';
import { gcra, type GcraState } from '../algorithms/gcra.js';
import { ALGORITHMS } from '../algorithms/index.js';
import { slidingWindow, type SlidingWindowState } from '../algorithms/sliding-window.js';
import { tokenBucket, type TokenBucketState } from '../algorithms/token-bucket.js';
import type { AlgorithmName, AlgorithmStep } from '../algorithms/types.js';
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

/** Slots a state table starts with, and never shrinks below. */
const INITIAL_CAPACITY = 16;

/**
 * How a table keeps a numeric algorithm state: as doubles beside the key's expiry time. No object
 * per key stays on the heap (V8 would promote each one and remember it on every write, which was
 * a tenth of an in-memory call); the algorithm still gets and returns its own state object.
 */
interface NumericLayout {
  /** Doubles one state takes. */
  readonly width: number;
  read(records: Float64Array, at: number): unknown;
  write(records: Float64Array, at: number, state: unknown): void;
}

const NUMERIC_LAYOUTS: Partial<Record<AlgorithmName, NumericLayout>> = {
  'fixed-window': {
    width: 2,
    read: (records, at): FixedWindowState => ({
      windowStartMs: records[at],
      count: records[at + 1],
    }),
    write: (records, at, state) => {
      records[at] = (state as FixedWindowState).windowStartMs;
      records[at + 1] = (state as FixedWindowState).count;
    },
  },
  'token-bucket': {
    width: 2,
    read: (records, at): TokenBucketState => ({
      tokens: records[at],
      updatedAtMs: records[at + 1],
    }),
    write: (records, at, state) => {
      records[at] = (state as TokenBucketState).tokens;
      records[at + 1] = (state as TokenBucketState).updatedAtMs;
    },
  },
  gcra: {
    width: 1,
    read: (records, at): GcraState => records[at],
    write: (records, at, state) => {
      records[at] = state as GcraState;
    },
  },
};

/**
 * The states of a set of keys and when each expires. A key maps to a slot number; the slot's
 * record in one Float64Array holds its expiry time, then its state when the layout is numeric
 * (other states sit in an array at the same slot). Per key that is one map entry and 8 to 24 bytes
 * of records, where an object per key would take 40 bytes (24 of them header) plus 16-byte boxes
 * for its numbers: a million keys is 40 MB or more less.
 */
class StateTable {
  private readonly slots = new Map<string, number>();
  /** Doubles per slot: the expiry time, then the numeric state if any. */
  private readonly stride: number;
  private records: Float64Array;
  /** The states at their slots, when they are not numeric. */
  private states: unknown[] = [];
  /** Slots emptied by the sweep, reused first. */
  private freeSlots: number[] = [];
  /** Slots handed out so far: the next new one. */
  private used = 0;

  /** @param layout how states are kept as numbers; undefined keeps them as they are. */
  constructor(private readonly layout?: NumericLayout) {
    this.stride = 1 + (layout?.width ?? 0);
    this.records = new Float64Array(INITIAL_CAPACITY * this.stride);
  }

  get size(): number {
    return this.slots.size;
  }

  /** The slot of `key`, -1 when it has none. */
  slotOf(key: string): number {
    return this.slots.get(key) ?? -1;
  }

  /** The state at `slot` (-1: none), unless it has expired at `nowMs`. */
  liveState(slot: number, nowMs: number): unknown {
    if (slot < 0) return undefined;
    const at = slot * this.stride;
    if (this.records[at] <= nowMs) return undefined;
    return this.layout === undefined ? this.states[slot] : this.layout.read(this.records, at + 1);
  }

  /**
   * Store the state of `key`, at its `slot` (-1 for a key not held yet).
   * @returns whether a new key was added.
   */
  write(key: string, slot: number, state: unknown, expiresAtMs: number): boolean {
    const added = slot < 0;
    if (added) {
      slot = this.allocate();
      this.slots.set(key, slot);
    }
    const at = slot * this.stride;
    this.records[at] = expiresAtMs;
    if (this.layout === undefined) this.states[slot] = state;
    else this.layout.write(this.records, at + 1, state);
    return added;
  }

  /** Remove every key expired at `nowMs`; give the memory back once most slots are empty. */
  sweep(nowMs: number): void {
    for (const [key, slot] of this.slots) {
      if (this.records[slot * this.stride] <= nowMs) {
        this.slots.delete(key);
        if (this.layout === undefined) this.states[slot] = undefined;
        this.freeSlots.push(slot);
      }
    }
    if (this.used > INITIAL_CAPACITY && this.slots.size * 4 < this.used) this.compact();
  }

  clear(): void {
    this.slots.clear();
    this.compact();
  }

  private allocate(): number {
    const free = this.freeSlots.pop();
    if (free !== undefined) return free;
    if (this.used * this.stride === this.records.length) {
      const grown = new Float64Array((this.used + (this.used >> 1)) * this.stride);
      grown.set(this.records);
      this.records = grown;
    }
    return this.used++;
  }

  /** Renumber the slots densely, into arrays sized for the keys held. */
  private compact(): void {
    const stride = this.stride;
    const records = new Float64Array(Math.max(INITIAL_CAPACITY, this.slots.size * 2) * stride);
    const states: unknown[] = [];
    let next = 0;
    for (const [key, slot] of this.slots) {
      records.set(this.records.subarray(slot * stride, (slot + 1) * stride), next * stride);
      if (this.layout === undefined) states.push(this.states[slot]);
      this.slots.set(key, next++);
    }
    this.records = records;
    this.states = states;
    this.used = next;
    this.freeSlots = [];
  }
}

/**
 * The state of one key space: the engine's keys that differ only by subject. Opaque outside this
 * file; the engine gets one per limit from `keySpace()` and hands it back.
 */
export type KeySpace = StateTable;

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
 * subject, and decides synchronously (`evaluateSubjectNow`): no long key to build and hash per call,
 * and the key space's name is stored once, not once per subject.
 */
export class MemoryStore implements RateLimitStore {
  /** The keys given to `evaluate`. */
  private readonly table = new StateTable();
  /** Key spaces by algorithm and name. Never removed (their number is bounded by the limits). */
  private readonly spaces = new Map<string, KeySpace>();
  private readonly clock: Clock;
  private readonly sweepIntervalMs: number;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private readonly scratchMembers: string[] = [];
  private readonly scratchSlots: number[] = [];

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
      return [this.decide(this.table, check.key, check.limit, check.cost, nowMs)];
    }
    const steps: AlgorithmStep<unknown>[] = [];
    let allAllowed = true;
    for (const { key, limit, cost } of checks) {
      const step = runAlgorithm(
        limit,
        this.table.liveState(this.table.slotOf(key), nowMs),
        nowMs,
        cost,
      );
      steps.push(step);
      if (!step.allowed) allAllowed = false;
    }
    if (allAllowed) {
      for (let index = 0; index < checks.length; index++) {
        // Looked up again: one call may carry the same key twice (the last step wins).
        const key = checks[index].key;
        this.commit(this.table, key, this.table.slotOf(key), steps[index], nowMs);
      }
    }
    return steps;
  }

  /**
   * The key space of this name (created on first use): the engine's keys without their subject.
   * @internal used by the engine.
   */
  keySpace(name: string, algorithm: AlgorithmName): KeySpace {
    // A limit's id (the end of the name) names its algorithm; the algorithm is part of the space's
    // identity anyway, since its states are laid out for it.
    const id = `${algorithm} ${name}`;
    let space = this.spaces.get(id);
    if (space === undefined) {
      space = new StateTable(NUMERIC_LAYOUTS[algorithm]);
      this.spaces.set(id, space);
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
    return this.decide(space, memberOf(subject), limit, cost, this.clock());
  }

  /**
   * Decide several limits now, all or nothing: commit every one only when all admit. Each space
   * appears once (the engine's limits of one call never share a key). A single subject or cost
   * applies to every limit.
   * @internal used by the engine.
   */
  evaluateSubjectsNow(
    spaces: readonly KeySpace[],
    limits: readonly BuiltInRateLimit[],
    subjects: string | readonly string[],
    costs: number | readonly number[],
  ): AlgorithmStep<unknown>[] {
    const nowMs = this.clock();
    const steps: AlgorithmStep<unknown>[] = [];
    // Scratch, not arrays per call: nothing between here and the commit can call back into the store.
    const members = this.scratchMembers;
    const slots = this.scratchSlots;
    let allAllowed = true;
    let previousSubject: string | undefined;
    let member = '';
    for (let index = 0; index < limits.length; index++) {
      const subject = typeof subjects === 'string' ? subjects : subjects[index];
      // Limits keyed by the same subject (the usual case) share its member.
      if (subject !== previousSubject) member = memberOf(subject);
      previousSubject = subject;
      members[index] = member;
      slots[index] = spaces[index].slotOf(member);
      const state = spaces[index].liveState(slots[index], nowMs);
      const step = runAlgorithm(
        limits[index],
        state,
        nowMs,
        typeof costs === 'number' ? costs : costs[index],
      );
      steps.push(step);
      if (!step.allowed) allAllowed = false;
    }
    if (allAllowed) {
      for (let index = 0; index < limits.length; index++) {
        this.commit(spaces[index], members[index], slots[index], steps[index], nowMs);
      }
    }
    return steps;
  }

  /** Number of keys held (expired ones included until the next sweep). */
  get size(): number {
    let size = this.table.size;
    for (const space of this.spaces.values()) size += space.size;
    return size;
  }

  /** Remove every expired key now. */
  sweep(): void {
    const nowMs = this.clock();
    this.table.sweep(nowMs);
    for (const space of this.spaces.values()) space.sweep(nowMs);
    if (this.size === 0) this.stopSweeping();
  }

  /** Drop all state and stop the sweep timer. */
  close(): void {
    this.table.clear();
    // Emptied, not dropped: engines keep references to their key spaces.
    for (const space of this.spaces.values()) space.clear();
    this.stopSweeping();
  }

  private decide(
    table: StateTable,
    key: string,
    limit: BuiltInRateLimit,
    cost: number,
    nowMs: number,
  ): AlgorithmStep<unknown> {
    const slot = table.slotOf(key);
    const step = runAlgorithm(limit, table.liveState(slot, nowMs), nowMs, cost);
    if (step.allowed) this.commit(table, key, slot, step, nowMs);
    return step;
  }

  /** Store an admitting step's state at `slot` (-1: a new key, then `key` is added). */
  private commit(
    table: StateTable,
    key: string,
    slot: number,
    step: AlgorithmStep<unknown>,
    nowMs: number,
  ): void {
    if (table.write(key, slot, step.state, nowMs + step.ttlMs)) this.startSweeping();
  }

  private startSweeping(): void {
    if (this.sweepTimer !== undefined) return;
    this.sweepTimer = setInterval(() => this.sweep(), this.sweepIntervalMs);
    this.sweepTimer.unref();
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

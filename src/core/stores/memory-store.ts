import { decideFixedWindow, type FixedWindowParams } from '../algorithms/fixed-window.js';
import { decideGcra, type GcraParams } from '../algorithms/gcra.js';
import { runAlgorithm } from '../algorithms/index.js';
import { decideTokenBucket, type TokenBucketParams } from '../algorithms/token-bucket.js';
import { StepOutput, type AlgorithmName, type AlgorithmStep } from '../algorithms/types.js';
import { monotonicClock, type Clock } from '../clock.js';
import { RateLimitConfigError, type BuiltInRateLimit } from '../limits.js';
import { encodeKeyPart, MAX_PART_LENGTH } from '../subject.js';
import type { LimitCheck, LimitOutcome, RateLimitStore } from './store.js';

export interface MemoryStoreOptions {
  /**
   * Epoch milliseconds; monotonic by default. Inject one in tests: fake timers that replace
   * `globalThis.performance` do not move the default clock, which reads `node:perf_hooks`.
   */
  readonly clock?: Clock;
  /** How often expired keys are swept away (default 10 s). The timer never keeps the process alive. */
  readonly sweepIntervalMs?: number;
}

/** Slots a state table starts with, and never shrinks below. */
const INITIAL_CAPACITY = 16;

/**
 * The states of a set of keys and when each expires. A key maps to a slot number; the slot's
 * record in one Float64Array holds its expiry time, then its state when the algorithm's is numeric
 * (other states sit in an array at the same slot). Per key that is one map entry and 8 to 24 bytes
 * of records, where an object per key would take 40 bytes (24 of them header) plus 16-byte boxes
 * for its numbers: a million keys is 40 MB or more less.
 */
class StateTable {
  private readonly slots = new Map<string, number>();
  /** Doubles per slot: the expiry time, then the numeric state if any. */
  private readonly stride: number;
  /** Whether states are kept as numbers in the records (else as they are, in `states`). */
  readonly numeric: boolean;
  private records: Float64Array;
  /** The states at their slots, when they are not numeric. */
  private states: unknown[] = [];
  /** Slots emptied by the sweep, reused first. */
  private freeSlots: number[] = [];
  /** Slots handed out so far: the next new one. */
  private used = 0;

  /**
   * @param numericWidth doubles a numeric state takes; 0 keeps states as they are.
   * @param algorithm, params: of the one limit setting whose states a numeric table holds (its
   *   keys name the setting). Read here rather than from the limit of each call, whose class
   *   differs by algorithm: reading the limit made the whole in-memory path polymorphic.
   */
  constructor(
    /** Told whenever a key is added (the store then sweeps). */
    private readonly onKeyAdded: () => void,
    numericWidth = 0,
    private readonly algorithm?: AlgorithmName,
    readonly params?: unknown,
  ) {
    this.numeric = numericWidth > 0;
    this.stride = 1 + numericWidth;
    this.records = new Float64Array(INITIAL_CAPACITY * this.stride);
  }

  get size(): number {
    return this.slots.size;
  }

  /** Whether this table can hold the states of a limit of these params (numeric states are laid out and decided with its own). */
  holdsStatesOf(params: unknown): boolean {
    return !this.numeric || JSON.stringify(params) === JSON.stringify(this.params);
  }

  /** The slot of `key`, -1 when it has none. */
  slotOf(key: string): number {
    return this.slots.get(key) ?? -1;
  }

  /** Whether `slot` (-1: none) holds a state that has not expired at `nowMs`. */
  isLive(slot: number, nowMs: number): boolean {
    return slot >= 0 && this.records[slot * this.stride] > nowMs;
  }

  /** Number `index` (0 or 1) of the numeric state at `slot`; 0 when `live` is false. */
  stateAt(slot: number, index: number, live: boolean): number {
    return live ? this.records[slot * this.stride + 1 + index] : 0;
  }

  /** The state at `slot` (-1: none), unless it has expired at `nowMs`. */
  liveState(slot: number, nowMs: number): unknown {
    if (slot < 0) return undefined;
    const at = slot * this.stride;
    if (this.records[at] <= nowMs) return undefined;
    return this.states[slot];
  }

  /** Decide this table's limit into `out` from the numeric state at `slot` (-1: none), unless expired. */
  decideNumeric(out: StepOutput, slot: number, nowMs: number, cost: number): boolean {
    const live = this.isLive(slot, nowMs);
    // An expired or missing state is not read (the algorithm gets hasState = false).
    const state0 = this.stateAt(slot, 0, live);
    const state1 = this.stride > 2 ? this.stateAt(slot, 1, live) : 0;
    const params = this.params as never;
    const algorithm = this.algorithm;
    switch (algorithm) {
      case 'fixed-window':
        return decideFixedWindow(out, live, state0, state1, nowMs, params, cost);
      case 'token-bucket':
        return decideTokenBucket(out, live, state0, state1, nowMs, params, cost);
      case 'gcra':
        return decideGcra(out, live, state0, nowMs, params, cost);
      default:
        throw new Error(`MemoryStore: ${String(algorithm)} has no numeric state`);
    }
  }

  /** Store the numeric state an admitting `out` holds for `key` at its `slot` (-1: a new key). */
  commitNumeric(out: StepOutput, key: string, slot: number, nowMs: number): void {
    if (slot < 0) slot = this.add(key);
    const records = this.records; // after add(), which may grow them
    const at = slot * this.stride;
    records[at] = nowMs + out.ttlMs;
    records[at + 1] = out.state0;
    if (this.stride > 2) records[at + 2] = out.state1;
  }

  /** Store the (non-numeric) state of `key` at its `slot` (-1 for a key not held yet). */
  write(key: string, slot: number, state: unknown, expiresAtMs: number): void {
    if (slot < 0) slot = this.add(key);
    this.records[slot * this.stride] = expiresAtMs;
    this.states[slot] = state;
  }

  /** Give `key` a slot of its own; returns it. */
  private add(key: string): number {
    const slot = this.allocate();
    this.slots.set(key, slot);
    this.onKeyAdded();
    return slot;
  }

  /** Remove every key expired at `nowMs`; give the memory back once most slots are empty. */
  sweep(nowMs: number): void {
    for (const [key, slot] of this.slots) {
      if (this.records[slot * this.stride] <= nowMs) {
        this.slots.delete(key);
        if (!this.numeric) this.states[slot] = undefined;
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
      if (!this.numeric) states.push(this.states[slot]);
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

/** Begins every member that is not its subject as it is (U+D800, a high surrogate). */
const ENCODED_MARK = 0xd800;

/**
 * The key of a subject inside a key space. Inside one space the subject is the only variable part,
 * so it needs no length prefix: short subjects are used as they are (no new string, no new hash),
 * even ill-formed ones, since a Map compares code units exactly. Others become U+D800 followed by
 * `encodeKeyPart` of the subject (its bounded hash when long): long subjects, and short ones that
 * begin with U+D800 themselves (lone or paired), so that the two forms cannot collide.
 */
function memberOf(subject: string): string {
  if (subject.length <= MAX_PART_LENGTH && subject.charCodeAt(0) !== ENCODED_MARK) return subject;
  return `${String.fromCharCode(ENCODED_MARK)}${encodeKeyPart(subject)}`;
}

/**
 * Decides one limit of one subject now, at a cost, and commits when it admits: the single-limit
 * path. Returns what it decided, in an object it reuses (valid until its next call).
 * @internal
 */
export type SingleLimitDecider = (subject: string, cost: number) => StepOutput;

type DeciderFactory = (table: StateTable, out: StepOutput, clock: Clock) => SingleLimitDecider;

/**
 * How the MemoryStore keeps and decides each algorithm whose state is numbers: in one table, so
 * that an algorithm has both or neither.
 *
 * `width`: the doubles its state takes in a table, beside the key's expiry time. No object per key
 * stays on the heap (V8 would promote each one and remember it on every write, which was a tenth
 * of an in-memory call). Other algorithms keep their state objects as they are.
 *
 * `decider`: its single-limit decider. One function literal per algorithm on purpose: V8 compiles
 * a function after every call it has seen, so one decider shared by the algorithms (a switch, or
 * the algorithm passed in) was compiled with all of them inlined in a process that used several,
 * outgrew V8's inlining budget and ran up to 8 % more instructions per call (valgrind); each of
 * these is compiled with its own algorithm only.
 */
const NUMERIC_STATES: Partial<
  Record<AlgorithmName, { readonly width: number; readonly decider: DeciderFactory }>
> = {
  'fixed-window': {
    width: 2, // windowStartMs, count
    decider: (table, out, clock) => {
      const params = table.params as FixedWindowParams;
      return (subject, cost) => {
        const nowMs = clock();
        const member = memberOf(subject);
        const slot = table.slotOf(member);
        const live = table.isLive(slot, nowMs);
        const windowStartMs = table.stateAt(slot, 0, live);
        const count = table.stateAt(slot, 1, live);
        if (decideFixedWindow(out, live, windowStartMs, count, nowMs, params, cost)) {
          table.commitNumeric(out, member, slot, nowMs);
        }
        return out;
      };
    },
  },
  'token-bucket': {
    width: 2, // tokens, updatedAtMs
    decider: (table, out, clock) => {
      const params = table.params as TokenBucketParams;
      return (subject, cost) => {
        const nowMs = clock();
        const member = memberOf(subject);
        const slot = table.slotOf(member);
        const live = table.isLive(slot, nowMs);
        const tokens = table.stateAt(slot, 0, live);
        const updatedAtMs = table.stateAt(slot, 1, live);
        if (decideTokenBucket(out, live, tokens, updatedAtMs, nowMs, params, cost)) {
          table.commitNumeric(out, member, slot, nowMs);
        }
        return out;
      };
    },
  },
  gcra: {
    width: 1, // tatMs
    decider: (table, out, clock) => {
      const params = table.params as GcraParams;
      return (subject, cost) => {
        const nowMs = clock();
        const member = memberOf(subject);
        const slot = table.slotOf(member);
        const live = table.isLive(slot, nowMs);
        const tatMs = table.stateAt(slot, 0, live);
        if (decideGcra(out, live, tatMs, nowMs, params, cost)) {
          table.commitNumeric(out, member, slot, nowMs);
        }
        return out;
      };
    },
  },
};

/**
 * The embedded default store: a Map in this process. Exact under any concurrency inside the
 * process, because a whole evaluation runs synchronously (no await between check and commit).
 * Not shared between processes: use the Redis store for several instances.
 *
 * Keys given to `evaluate` are used as they are. The engine addresses its keys as a key space
 * (`<prefix><scope or namespace><limit id>`, everything of the storage key but the subject) plus the
 * subject, and decides synchronously (`singleLimitDecider`, `evaluatePlainNow`): no long key to
 * build and hash per call, and the key space's name is stored once, not once per subject.
 */
export class MemoryStore implements RateLimitStore {
  /** Starts the sweep timer when the first key arrives. */
  private readonly keyAdded = (): void => this.startSweeping();
  /** The keys given to `evaluate`. */
  private readonly table = new StateTable(this.keyAdded);
  /** Key spaces by algorithm and name. Never removed (their number is bounded by the limits). */
  private readonly spaces = new Map<string, KeySpace>();
  private readonly clock: Clock;
  private readonly sweepIntervalMs: number;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  // Scratch of the engine's calls, not objects per call: nothing between a decision and its commit
  // can call back into the store.
  private readonly scratchMembers: string[] = [];
  private readonly scratchSlots: number[] = [];
  /** Per limit of the call: what its algorithm decided. The engine reads them right away. */
  private readonly outputs: StepOutput[] = [new StepOutput()];
  /** Per limit of the call: the new state, for algorithms whose state is not numeric. */
  private readonly objectStates: unknown[] = [];

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
      return [this.decide(check.key, check.limit, check.cost, nowMs)];
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
        this.commit(key, this.table.slotOf(key), steps[index], nowMs);
      }
    }
    return steps;
  }

  /**
   * The key space of this name (created on first use): the engine's keys without their subject.
   * @internal used by the engine.
   */
  keySpace(name: string, limit: BuiltInRateLimit): KeySpace {
    // The name ends with the limit's id, which names its algorithm and settings: limits of one
    // space have the same params. The algorithm is part of the space's identity anyway, since its
    // states are laid out for it.
    const algorithm = limit.algorithm;
    const id = `${algorithm} ${name}`;
    let space = this.spaces.get(id);
    if (space !== undefined && !space.holdsStatesOf(limit.params)) {
      // Only a limit whose id leaves out one of its settings (a subclass) can get here.
      throw new RateLimitConfigError(
        `${limit.describe()}: its key space "${name}" is already used by a limit of other settings (its id must name every setting)`,
      );
    }
    if (space === undefined) {
      space = new StateTable(
        this.keyAdded,
        NUMERIC_STATES[algorithm]?.width,
        algorithm,
        limit.params,
      );
      this.spaces.set(id, space);
    }
    return space;
  }

  /**
   * The decider of `limit` alone in `space` (one of its key spaces): the engine's path for a call
   * of one built-in limit. Numeric algorithms get one of their own.
   * @internal used by the engine.
   */
  singleLimitDecider(space: KeySpace, limit: BuiltInRateLimit): SingleLimitDecider {
    const numeric = NUMERIC_STATES[limit.algorithm];
    if (space.numeric && numeric !== undefined) {
      return numeric.decider(space, new StepOutput(), this.clock);
    }
    return (subject, cost) => {
      const nowMs = this.clock();
      const member = memberOf(subject);
      const slot = space.slotOf(member);
      if (this.decideInSpace(0, space, slot, limit, cost, nowMs)) {
        this.commitInSpace(0, space, member, slot, nowMs);
      }
      return this.outputs[0];
    };
  }

  /**
   * Decide several limits of one subject at one cost now, all or nothing (the usual call of
   * several limits): {@link evaluateSubjectsNow} without its per-limit subjects and costs.
   * @returns whether every limit admitted (then all were committed); what each decided is in
   *   {@link lastOutputs}.
   * @internal used by the engine.
   */
  evaluatePlainNow(
    spaces: readonly KeySpace[],
    limits: readonly BuiltInRateLimit[],
    subject: string,
    cost: number,
  ): boolean {
    const nowMs = this.clock();
    const member = memberOf(subject);
    const slots = this.scratchSlots;
    const outputs = this.outputs;
    while (outputs.length < limits.length) outputs.push(new StepOutput());
    if (limits.length === 2 && spaces[0].numeric && spaces[1].numeric) {
      return this.evaluatePairNow(spaces[0], spaces[1], member, cost, nowMs);
    }
    let allAllowed = true;
    for (let index = 0; index < limits.length; index++) {
      const space = spaces[index];
      const slot = space.slotOf(member);
      slots[index] = slot;
      // decideInSpace's numeric branch, without its lazy output allocation (done above, once).
      const allowed = space.numeric
        ? space.decideNumeric(outputs[index], slot, nowMs, cost)
        : this.decideInSpace(index, space, slot, limits[index], cost, nowMs);
      if (!allowed) allAllowed = false;
    }
    if (!allAllowed) return false;
    for (let index = 0; index < limits.length; index++) {
      this.commitInSpace(index, spaces[index], member, slots[index], nowMs);
    }
    return true;
  }

  /**
   * {@link evaluatePlainNow} of the usual pair of numeric limits (say per minute and per day) in
   * straight lines: the loops' scratch arrays and branches were a sixth of a two-limit call.
   */
  private evaluatePairNow(
    first: KeySpace,
    second: KeySpace,
    member: string,
    cost: number,
    nowMs: number,
  ): boolean {
    const outputs = this.outputs;
    const firstSlot = first.slotOf(member);
    const secondSlot = second.slotOf(member);
    const firstAllowed = first.decideNumeric(outputs[0], firstSlot, nowMs, cost);
    const secondAllowed = second.decideNumeric(outputs[1], secondSlot, nowMs, cost);
    if (!firstAllowed || !secondAllowed) return false;
    first.commitNumeric(outputs[0], member, firstSlot, nowMs);
    second.commitNumeric(outputs[1], member, secondSlot, nowMs);
    return true;
  }

  /**
   * What each limit of the last multi-limit call decided, in order (the array may be longer);
   * valid until the next call into the store.
   * @internal used by the engine.
   */
  get lastOutputs(): readonly StepOutput[] {
    return this.outputs;
  }

  /**
   * Decide several limits now, all or nothing: commit every one only when all admit. Each space
   * appears once (the engine's limits of one call never share a key). Each limit has its own
   * subject and cost (limits with `key` or `cost` options).
   * @returns whether every limit admitted (then all were committed); what each decided is in
   *   {@link lastOutputs}.
   * @internal used by the engine.
   */
  evaluateSubjectsNow(
    spaces: readonly KeySpace[],
    limits: readonly BuiltInRateLimit[],
    subjects: readonly string[],
    costs: readonly number[],
  ): boolean {
    const nowMs = this.clock();
    const members = this.scratchMembers;
    const slots = this.scratchSlots;
    let allAllowed = true;
    let previousSubject: string | undefined;
    let member = '';
    for (let index = 0; index < limits.length; index++) {
      const subject = subjects[index];
      // Limits keyed by the same subject (the usual case) share its member.
      if (subject !== previousSubject) member = memberOf(subject);
      previousSubject = subject;
      members[index] = member;
      slots[index] = spaces[index].slotOf(member);
      const cost = costs[index];
      if (!this.decideInSpace(index, spaces[index], slots[index], limits[index], cost, nowMs)) {
        allAllowed = false;
      }
    }
    if (!allAllowed) return false;
    for (let index = 0; index < limits.length; index++) {
      this.commitInSpace(index, spaces[index], members[index], slots[index], nowMs);
    }
    return true;
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

  /** Decide one check of `evaluate` (a key of its own table), committing when it admits. */
  private decide(
    key: string,
    limit: BuiltInRateLimit,
    cost: number,
    nowMs: number,
  ): AlgorithmStep<unknown> {
    const slot = this.table.slotOf(key);
    const step = runAlgorithm(limit, this.table.liveState(slot, nowMs), nowMs, cost);
    if (step.allowed) this.commit(key, slot, step, nowMs);
    return step;
  }

  /** Store an admitting step's state for `key` at `slot` (-1: a new key, then `key` is added). */
  private commit(key: string, slot: number, step: AlgorithmStep<unknown>, nowMs: number): void {
    this.table.write(key, slot, step.state, nowMs + step.ttlMs);
  }

  /** Decide the `index`-th limit of a call into `outputs[index]`, from the state at `slot`. */
  private decideInSpace(
    index: number,
    space: KeySpace,
    slot: number,
    limit: BuiltInRateLimit,
    cost: number,
    nowMs: number,
  ): boolean {
    const out = (this.outputs[index] ??= new StepOutput());
    if (space.numeric) return space.decideNumeric(out, slot, nowMs, cost);
    const step = runAlgorithm(limit, space.liveState(slot, nowMs), nowMs, cost);
    out.allowed = step.allowed;
    out.retryAfterMs = step.retryAfterMs;
    out.remaining = step.remaining;
    out.resetAfterMs = step.resetAfterMs;
    out.ttlMs = step.ttlMs;
    this.objectStates[index] = step.state;
    return step.allowed;
  }

  /** Store what the `index`-th limit of a call decided (it admitted) at `slot` (-1: a new key). */
  private commitInSpace(
    index: number,
    space: KeySpace,
    member: string,
    slot: number,
    nowMs: number,
  ): void {
    const out = this.outputs[index];
    if (space.numeric) space.commitNumeric(out, member, slot, nowMs);
    else space.write(member, slot, this.objectStates[index], nowMs + out.ttlMs);
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

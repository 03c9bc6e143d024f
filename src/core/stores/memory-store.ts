import type { AlgorithmStep } from '../algorithms/types.js';
import { monotonicClock, type Clock } from '../clock.js';
import { RateLimitConfigError } from '../limits.js';
import { encodeKeyPart, MAX_PART_LENGTH } from '../subject.js';
import { KeySpace } from './key-space.js';
import type { LimitCheck, LimitOutcome, RateLimitStore } from './store.js';

/** Options of a {@link MemoryStore}: its clock and how often it drops expired keys. */
export interface MemoryStoreOptions {
  /**
   * Epoch milliseconds; monotonic by default. Inject one in tests: fake timers that replace
   * `globalThis.performance` do not move the default clock, which reads `node:perf_hooks`.
   */
  readonly clock?: Clock;
  /** How often expired keys are dropped (default 10 s). The timer never keeps the process alive. */
  readonly sweepIntervalMs?: number;
}

/** Begins every member that is not its subject as it is (U+D800, a high surrogate). */
const ENCODED_MARK_CODE = 0xd800;
const ENCODED_MARK = String.fromCharCode(ENCODED_MARK_CODE);

/**
 * The key of a subject inside a key space. Inside one space the subject is the only variable part,
 * so it needs no length prefix: short well-formed subjects are used as they are (no new string, no
 * new hash). Others become U+D800 followed by `encodeKeyPart` of the subject (its bounded hash when
 * long): long or ill-formed subjects, and short ones that begin with U+D800 themselves, so that
 * the two forms cannot collide.
 */
function memberOf(subject: string): string {
  if (subject.length <= MAX_PART_LENGTH && subject.charCodeAt(0) !== ENCODED_MARK_CODE) {
    if (subject.isWellFormed()) return subject;
  }
  return `${ENCODED_MARK}${encodeKeyPart(subject)}`;
}

/**
 * The embedded default store: Maps in this process (key space → subject → state). Exact under any
 * concurrency inside the process, because a whole evaluation runs synchronously (no await between
 * check and commit). Not shared between processes: use the Redis store for several instances.
 */
export class MemoryStore implements RateLimitStore {
  /** The engine's key spaces by name (bounded by the limits declared). */
  private readonly spaces = new Map<string, KeySpace>();
  /** The checks that come with a key only. */
  private readonly keys = new KeySpace(undefined);
  private readonly clock: Clock;
  private readonly sweepIntervalMs: number;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  // Where each check of the evaluation under way lives; reused, since an evaluation never waits.
  private readonly located: KeySpace[] = [];
  private readonly members: string[] = [];
  // The key space the last evaluation found at each position, with its name (see spaceOf).
  private readonly lastNames: string[] = [];
  private readonly lastSpaces: KeySpace[] = [];

  constructor(options: MemoryStoreOptions = {}) {
    this.clock = options.clock ?? monotonicClock;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
  }

  evaluate(checks: readonly LimitCheck[]): Promise<readonly LimitOutcome[]> {
    try {
      return Promise.resolve(this.evaluateNow(checks));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** `evaluate`, synchronously: every check decided, all committed only when all admit. */
  evaluateNow(checks: readonly LimitCheck[]): readonly AlgorithmStep<unknown>[] {
    const nowMs = this.clock();
    const { located, members } = this;
    // Arrays made at their length: a push would give each a spare capacity of 16 to collect.
    const steps = new Array<AlgorithmStep<unknown>>(checks.length);
    let allAllowed = true;
    for (let index = 0; index < checks.length; index++) {
      const check = checks[index];
      const space = (located[index] = this.spaceOf(check, index));
      const member = (members[index] = this.memberOf(check));
      const step = check.limit.evaluateState(space.get(member), nowMs, check.cost);
      if (!step.allowed) allAllowed = false;
      steps[index] = step;
    }
    if (!allAllowed) return steps;
    for (let index = 0; index < checks.length; index++) {
      const { state, ttlMs } = steps[index];
      located[index].set(members[index], state, nowMs + ttlMs);
    }
    if (this.sweepTimer === undefined) this.startSweeping();
    return steps;
  }

  /** What `evaluate` would answer now, committing nothing. */
  peek(checks: readonly LimitCheck[]): Promise<readonly LimitOutcome[]> {
    try {
      const nowMs = this.clock();
      return Promise.resolve(
        checks.map((check) => check.limit.evaluateState(this.stateOf(check), nowMs, check.cost)),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Gives each check's cost back to its limit (see `RateLimitStore.refund`). */
  refund(checks: readonly LimitCheck[]): Promise<void> {
    try {
      const nowMs = this.clock();
      for (const check of checks) {
        const refunded = check.limit.refundState(
          this.stateOf(check),
          nowMs,
          check.cost,
          check.admittedAtMs ?? nowMs,
        );
        if (refunded !== undefined) this.write(check, refunded.state, nowMs + refunded.ttlMs);
      }
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Forgets these storage keys (as the engine builds them, or as given to `evaluate`). */
  reset(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      this.keys.delete(key);
      for (const [space, member] of this.locate(key)) space.delete(member);
    }
    return Promise.resolve();
  }

  /** Number of keys held (expired ones included until their generation is dropped). */
  get size(): number {
    let size = this.keys.size;
    for (const space of this.spaces.values()) size += space.size;
    return size;
  }

  /** Drop every generation of keys that has wholly expired now (the timer does it on its own). */
  sweep(): void {
    const nowMs = this.clock();
    this.keys.sweep(nowMs);
    for (const space of this.spaces.values()) space.sweep(nowMs);
    if (this.size === 0) this.stopSweeping();
  }

  /** Drop all state and stop the sweep timer. */
  close(): void {
    this.spaces.clear();
    this.lastNames.length = this.lastSpaces.length = 0;
    this.keys.clear();
    this.stopSweeping();
  }

  private stateOf(check: LimitCheck): unknown {
    return this.spaceOf(check).get(this.memberOf(check));
  }

  private write(check: LimitCheck, state: unknown, expiresAtMs: number): void {
    this.spaceOf(check).set(this.memberOf(check), state, expiresAtMs);
    if (this.sweepTimer === undefined) this.startSweeping();
  }

  /** The key space of a check: the engine's, by name, or the one of plain keys. */
  private spaceOf({ space: name, subject, limit }: LimitCheck, position = 0): KeySpace {
    if (name === undefined || subject === undefined) return this.keys;
    // Calls come in runs for the same limits: the space the last call found at this position is
    // tried first, without a lookup.
    const last = this.lastSpaces[position];
    if (last !== undefined && name === this.lastNames[position] && limit === last.limit)
      return last;
    let space = this.spaces.get(name);
    if (space === undefined) {
      space = new KeySpace(limit);
      this.spaces.set(name, space);
    } else if (!space.accepts(limit)) {
      // Only a limit whose id leaves out one of its settings (a subclass) can get here.
      throw new RateLimitConfigError(
        `${limit.describe()}: its key space "${name}" is already used by a limit of other settings (its id must name every setting)`,
      );
    }
    this.lastNames[position] = name;
    this.lastSpaces[position] = space;
    return space;
  }

  private memberOf(check: LimitCheck): string {
    const subject = check.subject;
    return check.space === undefined || subject === undefined ? check.key : memberOf(subject);
  }

  /**
   * The key spaces and members an engine key may be stored under: `<prefix>{<encoded subject>}
   * <rest>` lives in the space `<prefix><rest>`. Every `{` is tried, since a prefix may hold one.
   */
  private *locate(key: string): Generator<[KeySpace, string]> {
    for (let open = key.indexOf('{'); open >= 0; open = key.indexOf('{', open + 1)) {
      const part = /^(?:(\d+):|#[\w-]{43}\})/.exec(key.slice(open + 1, open + 46));
      if (part === null) continue;
      const length = part[1] === undefined ? undefined : Number(part[1]);
      const start = open + 1 + part[0].length;
      const close = length === undefined ? start - 1 : start + length;
      if (key[close] !== '}') continue;
      const space = this.spaces.get(key.slice(0, open) + key.slice(close + 1));
      if (space === undefined) continue;
      const member =
        length === undefined
          ? `${ENCODED_MARK}${key.slice(open + 1, close)}`
          : memberOf(key.slice(start, close));
      yield [space, member];
    }
  }

  private startSweeping(): void {
    this.sweepTimer = setInterval(() => this.sweep(), this.sweepIntervalMs);
    this.sweepTimer.unref();
  }

  private stopSweeping(): void {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }
}

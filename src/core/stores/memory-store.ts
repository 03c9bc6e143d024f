import { ALGORITHMS } from '../algorithms/index.js';
import type { AlgorithmStep } from '../algorithms/types.js';
import { monotonicClock, type Clock } from '../clock.js';
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
 * The embedded default store: a Map in this process. Exact under any concurrency inside the
 * process, because a whole evaluation runs synchronously (no await between check and commit).
 * Not shared between processes: use the Redis store for several instances.
 */
export class MemoryStore implements RateLimitStore {
  private readonly entries = new Map<string, Entry>();
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
      const entry = this.entries.get(check.key);
      const step = this.step(check, entry, nowMs);
      if (step.allowed) this.commit(check.key, entry, step, nowMs);
      return [step];
    }

    const steps: AlgorithmStep<unknown>[] = [];
    let allAllowed = true;
    for (const check of checks) {
      const entry = this.entries.get(check.key);
      const step = this.step(check, entry, nowMs);
      steps.push(step);
      if (!step.allowed) allAllowed = false;
    }
    if (allAllowed) {
      for (let index = 0; index < checks.length; index++) {
        const key = checks[index].key;
        this.commit(key, this.entries.get(key), steps[index], nowMs);
      }
    }
    return steps;
  }

  /** Number of keys held (expired ones included until the next sweep). */
  get size(): number {
    return this.entries.size;
  }

  /** Remove every expired key now. */
  sweep(): void {
    const nowMs = this.clock();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAtMs <= nowMs) this.entries.delete(key);
    }
    if (this.entries.size === 0) this.stopSweeping();
  }

  /** Drop all state and stop the sweep timer. */
  close(): void {
    this.entries.clear();
    this.stopSweeping();
  }

  private step(check: LimitCheck, entry: Entry | undefined, nowMs: number): AlgorithmStep<unknown> {
    const state = entry !== undefined && entry.expiresAtMs > nowMs ? entry.state : undefined;
    return ALGORITHMS[check.limit.algorithm](state, nowMs, check.limit.params, check.cost);
  }

  private commit(
    key: string,
    entry: Entry | undefined,
    step: AlgorithmStep<unknown>,
    nowMs: number,
  ): void {
    const expiresAtMs = nowMs + step.ttlMs;
    if (entry !== undefined) {
      entry.state = step.state;
      entry.expiresAtMs = expiresAtMs;
      return;
    }
    this.entries.set(key, { state: step.state, expiresAtMs });
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

import { RateLimitConfigError } from '../limits.js';
import { monotonicClock, type Clock } from '../clock.js';
import { MemoryStore } from './memory-store.js';
import {
  StoreKeyError,
  StoreTimeoutError,
  type LimitCheck,
  type LimitOutcome,
  type RateLimitStore,
  type ResetMark,
} from './store.js';

import {
  OutageReport,
  POLICIES,
  type OutagePolicyOptions,
  type RateLimitLogger,
  type StoreErrorPolicy,
} from './outage-policy.js';

const MAX_UNSENT_RELEASES = 10_000; // calls whose failed releases are kept to send again

/**
 * Wraps a store with the outage policy. `evaluate`, `peek` and `refund` never reject because of the
 * wrapped store; `reset` does (an operator must know that a reset did not happen).
 */
export class ResilientStore implements RateLimitStore {
  readonly policy: StoreErrorPolicy;
  private readonly logger: RateLimitLogger;
  private readonly retryIntervalMs: number;
  private readonly denyRetryAfterMs: number;
  private readonly report: OutageReport;
  private readonly clock: Clock;
  /** This instance's own record of its admissions (policy `insurance`), for the store's life. */
  private readonly insurance: MemoryStore | undefined;
  private downUntilMs = -Infinity;
  /** Whether a call is trying the store again after an outage. */
  private probing = false;
  /** The store's time (`atMs`) of the admission being recorded, while `recorded` records it. */
  private recordingAtMs: number | undefined;
  /** The store's clock less ours, as of its last answer: the record runs on the store's time. */
  private skewMs = 0;
  /** The releases the store failed to take, one entry per call: sent again once it answers. */
  private readonly unsentReleases: (readonly LimitCheck[])[] = [];
  /**
   * The resets this instance has learned from the store's marks (`learnResets`), by key: the
   * reset's time, and until when its mark lives (then the entry goes too).
   */
  private readonly learned = new Map<string, { atMs: number; untilMs: number }>();

  constructor(
    readonly primary: RateLimitStore,
    options: OutagePolicyOptions = {},
  ) {
    const policy = options.policy ?? 'insurance';
    if (!POLICIES.includes(policy)) {
      throw new TypeError(
        `onStoreError must be one of ${POLICIES.join(', ')} (got ${String(policy)})`,
      );
    }
    this.policy = policy;
    this.logger = options.logger ?? console;
    this.retryIntervalMs = options.retryIntervalMs ?? 1_000;
    this.denyRetryAfterMs = options.denyRetryAfterMs ?? 1_000;
    this.report = new OutageReport(
      this.logger,
      options.logIntervalMs ?? 60_000,
      options.reportStoreError,
    );
    this.clock = options.clock ?? monotonicClock;
    // The record's clock is the store's: the time of the call it records (see `recorded`), else
    // ours moved by the skew last seen. On ours alone, a store clock behind would make the record
    // refill and expire early, one ahead would put its fixed windows in the future.
    const recordClock = (): number => this.recordingAtMs ?? this.clock() + this.skewMs;
    if (policy === 'insurance') this.insurance = new MemoryStore({ clock: recordClock });
  }

  /** Whether the last call to the primary store failed and it has not answered since. */
  get degraded(): boolean {
    return this.downUntilMs !== -Infinity;
  }

  async evaluate(checks: readonly LimitCheck[]): Promise<readonly LimitOutcome[]> {
    // While the store is down, the policy decides without waiting for it; once retryIntervalMs has
    // passed, one call at a time probes it (the others must not all wait out its timeout). Calls
    // made during the probe are decided by the policy too, and the insurance records them.
    const probe = this.degraded;
    if (probe) {
      if (this.probing || this.clock() < this.downUntilMs) return this.fallback(checks);
      this.probing = true;
    }
    try {
      const outcomes = await this.primary.evaluate(checks);
      if (this.degraded) this.recovered();
      return this.recorded(checks, outcomes);
    } catch (error) {
      // A misconfiguration is the caller's to fix, not an outage: no fallback hides it.
      if (error instanceof RateLimitConfigError) throw error;
      // Counted from when the failure is known: a call that timed out has already waited.
      this.failed(error, this.clock());
      // A probe failed on a broken key: the store answered, so it is back for the other keys.
      if (error instanceof StoreKeyError && this.degraded) this.recovered();
      const outcomes = this.fallback(checks);
      return error instanceof StoreTimeoutError
        ? this.lateSlots(checks, outcomes, error)
        : outcomes;
    } finally {
      if (probe) this.probing = false;
    }
  }

  /** What `evaluate` would answer; while the store is down, the policy's answer. Commits nothing. */
  async peek(checks: readonly LimitCheck[]): Promise<readonly LimitOutcome[]> {
    const peek = this.primary.peek;
    if (peek === undefined) throw new RateLimitConfigError('the rate limit store has no peek()');
    if (!this.degraded) {
      try {
        return await peek.call(this.primary, checks);
      } catch (error) {
        if (error instanceof RateLimitConfigError) throw error;
        this.failed(error, this.clock());
      }
    }
    if (this.insurance !== undefined) {
      const own: RateLimitStore = this.insurance;
      if (own.peek !== undefined) return own.peek(checks);
    }
    return this.policyOutcomes(checks);
  }

  /**
   * Gives the units back to this instance's own record and, when it counted the call, to the store:
   * never for a call the policy decided (it took nothing there; `lateSlots` frees what its late
   * command took), nor a rate limit's refund while the store is down (it may be the policy's).
   * `ConcurrencyLimit` releases always go, at once (they free exactly their call's leases), and
   * again once the store answers if it failed to take them: a slot left held would shut its
   * subject out until the lease expires.
   */
  async refund(checks: readonly LimitCheck[]): Promise<void> {
    const own: RateLimitStore | undefined = this.insurance;
    await own?.refund?.(checks);
    if (this.primary.refund === undefined) return;
    const degraded = this.degraded;
    const counted = checks.filter(
      (check) => check.decidedByPolicy !== true && (holdsSlot(check) || !degraded),
    );
    if (counted.length === 0) return;
    if (!degraded) return this.sendRefund(counted);
    this.sendRefund(counted).catch(() => undefined); // a misconfiguration shows on the next call
  }

  /** Sends a refund to the store; the releases it fails to take are sent again (`resend`). */
  private async sendRefund(checks: readonly LimitCheck[]): Promise<void> {
    if (checks.length === 0) return;
    try {
      await this.primary.refund?.(checks);
    } catch (error) {
      if (error instanceof RateLimitConfigError) throw error;
      this.failed(error, this.clock());
      const releases = checks.filter(holdsSlot);
      if (releases.length === 0) return;
      // A broken key fails its whole refund: each release alone, so that the others still free
      // their slots; a broken one is kept (its lease expires in the end).
      if (error instanceof StoreKeyError) {
        if (releases.length === 1) return this.keepRelease(releases);
        for (const release of releases) this.sendRefund([release]).catch(() => undefined);
        return;
      }
      // A command that timed out may still run: sent again only once known not to have run (a
      // second run could free another call's lease of the same instant).
      const late = error instanceof StoreTimeoutError ? error.late : Promise.resolve(undefined);
      void late.then((ran) => ran === undefined && this.resend(releases));
    }
  }

  /** Releases the store did not take: sent now if it answers, else kept (the oldest go first). */
  private resend(releases: readonly LimitCheck[]): void {
    if (!this.degraded) this.sendRefund(releases).catch(() => undefined);
    else this.keepRelease(releases);
  }

  private keepRelease(releases: readonly LimitCheck[]): void {
    if (this.unsentReleases.push(releases) > MAX_UNSENT_RELEASES) this.unsentReleases.shift();
  }

  /** Forgets these keys in the store and in this instance's own record. */
  async reset(keys: readonly string[]): Promise<void> {
    if (this.primary.reset === undefined) {
      throw new RateLimitConfigError('the rate limit store has no reset()');
    }
    const own: RateLimitStore | undefined = this.insurance;
    await own?.reset?.(keys);
    await this.primary.reset(keys);
    // This instance's record was emptied just now: the marks of this reset are learned at once.
    // Unlearned, a mark would later pass for a reset made elsewhere, and should the store lose
    // these keys' state while it lives (an eviction), the record would be emptied again.
    if (own !== undefined) await this.newMarks(keys);
  }

  /** Stops the insurance's sweep timer (the wrapped store is closed by its owner). */
  close(): void {
    this.insurance?.close();
  }

  /**
   * The store's outcomes, once this instance's own record has counted an admission. When the store
   * admits what this instance alone has already used up, either another instance reset those keys
   * (see `learnResets`), or the store has lost state (restarted without persistence, flushed,
   * evicted): then the call is denied and the store gets its units back. The record counts only
   * this instance's calls, a subset of what the store counts, so it never denies a call that a
   * store with its state would admit (the same clock; a clock skew between this host and Redis can
   * delay a used-up quota's renewal by that skew).
   */
  private recorded(
    checks: readonly LimitCheck[],
    outcomes: readonly LimitOutcome[],
  ): readonly LimitOutcome[] | Promise<readonly LimitOutcome[]> {
    if (this.insurance === undefined || !outcomes.every((outcome) => outcome.allowed)) {
      return outcomes;
    }
    const own = this.record(checks, outcomes);
    return own.every((outcome) => outcome.allowed) ? outcomes : this.discrepancy(checks, outcomes);
  }

  /** The own record's answer for a call the store admitted, committed when it admits too. */
  private record(
    checks: readonly LimitCheck[],
    outcomes: readonly LimitOutcome[],
  ): readonly LimitOutcome[] {
    // Recorded at the store's time of the call: a refund or a release names the call by that time
    // (its `atMs`), which must match what the record holds (a sliding window's entries, leases).
    const atMs = outcomes[0]?.atMs;
    if (atMs !== undefined) this.skewMs = atMs - this.clock();
    this.recordingAtMs = atMs;
    try {
      return (this.insurance as MemoryStore).evaluateNow(checks);
    } finally {
      this.recordingAtMs = undefined;
    }
  }

  /** The store admitted a call the own record denies: a reset elsewhere, else lost state. */
  private async discrepancy(
    checks: readonly LimitCheck[],
    outcomes: readonly LimitOutcome[],
  ): Promise<readonly LimitOutcome[]> {
    await this.learnResets(checks);
    // Asked again: a reset (learned now, or by another call of this instance) renews the record.
    const own = this.record(checks, outcomes);
    if (own.every((outcome) => outcome.allowed)) return outcomes;
    // The store gives back exactly what it admitted (the refund names the admission's time); the
    // releases apart: sent again alone if lost, they keep the mark that makes them run once.
    const admitted = checks.map((check, index) => admittedAt(check, outcomes[index].atMs));
    this.sendRefund(admitted.filter(holdsSlot)).catch(() => undefined);
    this.sendRefund(admitted.filter((check) => !holdsSlot(check))).catch(() => undefined);
    return own.map(({ allowed, retryAfterMs, remaining, resetAfterMs }) => ({
      allowed,
      retryAfterMs,
      remaining,
      resetAfterMs,
    }));
  }

  /**
   * Forgets, in the own record, the keys of `checks` that the store says were reset (by any
   * instance) since this instance last learned of a reset of them: the record then counts from
   * the reset, like the store. Each reset is learned once, so a store that later loses a key's
   * state while its reset marker lives is still caught. A store without marks, or that fails to
   * answer, teaches nothing (the call is taken as lost state: the safe side).
   */
  private async learnResets(checks: readonly LimitCheck[]): Promise<void> {
    const fresh = await this.newMarks(checks.map((check) => check.key));
    if (fresh.length !== 0) await this.insurance?.reset(fresh);
  }

  /** Learns the store's reset marks of `keys`; answers the keys whose mark was new here. */
  private async newMarks(keys: readonly string[]): Promise<string[]> {
    const primary = this.primary;
    if (primary.resetAt === undefined) return [];
    let marks: readonly (ResetMark | undefined)[];
    try {
      marks = await primary.resetAt(keys);
    } catch (error) {
      if (!(error instanceof RateLimitConfigError)) this.failed(error, this.clock());
      return [];
    }
    const nowMs = this.clock();
    const fresh: string[] = [];
    keys.forEach((key, index) => {
      const mark = marks[index];
      if (mark === undefined || this.learned.get(key)?.atMs === mark.atMs) return;
      fresh.push(key);
      this.learned.set(key, { atMs: mark.atMs, untilMs: nowMs + mark.leftMs });
    });
    if (fresh.length !== 0) {
      for (const [key, { untilMs }] of this.learned) if (untilMs <= nowMs) this.learned.delete(key);
    }
    return fresh;
  }

  /**
   * The policy's `outcomes` for a call whose store command timed out: that command may still run
   * once the store answers again, and take the call's `ConcurrencyLimit` slots there, at the
   * store's time, which the call's release (named by the policy's outcomes) does not match. Those
   * slots are freed once both the late reply has said it took them and the call has ended: while
   * the call runs the store must count it, or other instances would admit one call too many. A
   * call the policy denied never runs: it has ended. Rate limits a late command consumed stay
   * consumed (an over-count, the safe side).
   */
  private lateSlots(
    checks: readonly LimitCheck[],
    outcomes: readonly LimitOutcome[],
    timeout: StoreTimeoutError,
  ): readonly LimitOutcome[] {
    if (!checks.some(holdsSlot) || this.primary.refund === undefined) return outcomes;
    let ended!: () => void;
    const callEnded = new Promise<void>((resolve) => (ended = resolve));
    void Promise.all([timeout.late, callEnded]).then(([late]) => {
      // Denied late, never ran, or failed: nothing known to have been taken.
      if (late === undefined || !late.every((outcome) => outcome.allowed)) return;
      const taken = checks.flatMap((check, index) =>
        holdsSlot(check) ? [admittedAt(check, late[index].atMs)] : [],
      );
      this.sendRefund(taken).catch(() => undefined);
    });
    if (!outcomes.every((outcome) => outcome.allowed)) {
      ended();
      return outcomes;
    }
    return outcomes.map((outcome, index) =>
      holdsSlot(checks[index]) ? { ...outcome, onRelease: ended } : outcome,
    );
  }

  /** The policy's decision, marked as such: the store never counts the call (see `refund`). */
  private fallback(checks: readonly LimitCheck[]): readonly LimitOutcome[] {
    const own = this.insurance?.evaluateNow(checks);
    if (own === undefined) return this.policyOutcomes(checks);
    return own.map((outcome) => ({ ...outcome, decidedByPolicy: true }));
  }

  /** The `allow` or `deny` policy's answer; not even `allow` admits a cost above the quota. */
  private policyOutcomes(checks: readonly LimitCheck[]): readonly LimitOutcome[] {
    return checks.map(({ cost, limit }) => {
      const allowed = this.policy !== 'deny' && cost <= limit.policy.quota;
      const retryAfterMs = allowed ? 0 : this.denyRetryAfterMs;
      return {
        allowed,
        retryAfterMs,
        remaining: 0,
        resetAfterMs: retryAfterMs,
        decidedByPolicy: true,
      };
    });
  }

  private failed(error: unknown, nowMs: number): void {
    // One call the store answered but could not decide (a broken key) is no outage: the calls of
    // other keys are still the store's.
    const keyOnly = error instanceof StoreKeyError;
    if (!keyOnly) this.downUntilMs = nowMs + this.retryIntervalMs;
    const deciding = keyOnly
      ? `the "${this.policy}" policy decides the calls of that key`
      : `deciding with the "${this.policy}" policy until it answers`;
    this.report.failure(error, nowMs, deciding);
  }

  private recovered(): void {
    this.downUntilMs = -Infinity;
    this.logger.warn('rate limit store answers again');
    for (const releases of this.unsentReleases.splice(0)) this.resend(releases);
  }
}

/** Whether the check is a `ConcurrencyLimit`'s: its refund is a release, of exactly its lease. */
function holdsSlot(check: LimitCheck): boolean {
  return check.limit.algorithm === 'concurrency';
}

/** `check` as the refund of the admission its store made at `atMs` (what it gives back names it). */
function admittedAt({ key, limit, cost, space, subject }: LimitCheck, atMs?: number): LimitCheck {
  return { key, limit, cost, space, subject, admittedAtMs: atMs };
}

/**
 * `store` with the outage policy around it: a MemoryStore cannot fail and a ResilientStore already
 * has its policy, so both are used as they are.
 */
export function withOutagePolicy(
  store: RateLimitStore,
  options: OutagePolicyOptions,
): RateLimitStore {
  if (store instanceof MemoryStore || store instanceof ResilientStore) return store;
  return new ResilientStore(store, options);
}

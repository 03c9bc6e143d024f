import type { BuiltInRateLimit } from './built-in-limit.js';
import type { RateLimitContext } from './context.js';
import type { RateLimitDecision, Releasable } from './decision.js';
import { holdsSlots, type LimitSet } from './limit-set.js';
import type { LimitCheck, LimitOutcome } from './stores/store.js';
import { encodeKeyPart } from './subject.js';

/**
 * A check whose storage key, `<prefix>{<encoded subject>}<suffix>`, is made when a store first
 * reads it: the MemoryStore goes by space and subject and never does, which spares an in-memory
 * call the encoding and the string.
 */
export class Check implements LimitCheck {
  private madeKey: string | undefined;

  constructor(
    readonly limit: BuiltInRateLimit,
    readonly cost: number,
    readonly space: string,
    readonly subject: string,
    private readonly prefix: string,
    private readonly keySuffix: string,
    readonly admittedAtMs?: number,
    readonly decidedByPolicy?: boolean,
  ) {}

  get key(): string {
    this.madeKey ??= `${this.prefix}{${encodeKeyPart(this.subject)}}${this.keySuffix}`;
    return this.madeKey;
  }

  /**
   * This check, for a refund of the call admitted at `atMs`, by its store or (`decidedByPolicy`)
   * by the outage policy.
   */
  admittedAt(atMs: number | undefined, decidedByPolicy: boolean): Check {
    const { limit, cost, space, subject, prefix, keySuffix } = this;
    return new Check(limit, cost, space, subject, prefix, keySuffix, atMs, decidedByPolicy);
  }
}

/** The engine that admitted a call: the one that frees its slots. */
export interface Admitter {
  release(set: LimitSet, decision: RateLimitDecision): Promise<void>;
}

/** What a refund or a release needs of a limit's outcome, when the call was admitted. */
type AdmissionNote = Pick<LimitOutcome, 'atMs' | 'decidedByPolicy' | 'onRelease'>;

/**
 * What an admitted decision took: enough to give it back once and release its slots once. Its
 * checks, and the store's outcomes for them: when each limit admitted the call (`atMs`), whether
 * the outage policy decided it (`decidedByPolicy`), what its release must tell (`onRelease`).
 * Made for every admitted call, so it keeps the outcomes as they came and reads them only when a
 * refund or a release asks; `lighten` trims them for a decision kept long after its call.
 */
export class Receipt implements Releasable {
  refunded = false;
  released = false;

  constructor(
    readonly engine: Admitter,
    readonly set: LimitSet,
    public context: RateLimitContext,
    readonly checks: readonly Check[],
    private outcomes: readonly AdmissionNote[],
    /** The engine's count of resets when the call was admitted. */
    readonly resets: number,
  ) {}

  release(decision: RateLimitDecision): Promise<void> {
    return this.engine.release(this.set, decision);
  }

  /**
   * Keeps only what a refund or a release reads: an outcome may hold the subject's whole state (the
   * MemoryStore's step: a sliding window's every admission), and a multi round-trip call's charge
   * is kept for minutes.
   */
  lighten(context: RateLimitContext): void {
    this.context = context;
    this.outcomes = this.outcomes.map(({ atMs, decidedByPolicy, onRelease }) => ({
      atMs,
      decidedByPolicy,
      onRelease,
    }));
  }

  /** The checks of its slots (`slots`) or of its rate limits, named by their admission. */
  holdings(slots: boolean): Check[] {
    const { checks, outcomes } = this;
    // Any outcome decided by the outage policy marks them all: the safe side for a refund.
    const decidedByPolicy = outcomes.some((outcome) => outcome.decidedByPolicy === true);
    const held: Check[] = [];
    for (let index = 0; index < checks.length; index++) {
      const check = checks[index];
      if (holdsSlots(check.limit) === slots) {
        held.push(check.admittedAt(outcomes[index].atMs, decidedByPolicy));
      }
    }
    return held;
  }

  /** Runs what the release of the call must tell: each outcome's `onRelease`. */
  tellRelease(): void {
    for (const { onRelease } of this.outcomes) onRelease?.();
  }
}

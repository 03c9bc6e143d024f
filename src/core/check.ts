import type { BuiltInRateLimit } from './built-in-limit.js';
import { holdsSlots } from './limit-set.js';
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

const NO_HOOKS: readonly (() => void)[] = [];

/**
 * The checks of an admitted call, with what a refund or a release of it needs from its store's
 * outcomes: when each limit admitted it (`atMs`), whether the outage policy decided it, what its
 * release must tell (`onRelease`). Not the outcomes themselves: one may hold the subject's whole
 * state (the MemoryStore's step: a sliding window's every admission), and an admitted decision can
 * be kept for minutes (a multi round-trip call's charge).
 */
export class AdmittedChecks {
  private readonly admittedAtMs: (number | undefined)[];
  /** Whether the outage policy decided the call: any outcome marked so (the safe side). */
  private readonly decidedByPolicy: boolean = false;
  readonly releaseHooks: readonly (() => void)[] = NO_HOOKS;

  constructor(
    readonly checks: readonly Check[],
    outcomes: readonly LimitOutcome[],
  ) {
    this.admittedAtMs = new Array<number | undefined>(outcomes.length);
    for (let index = 0; index < outcomes.length; index++) {
      const { atMs, decidedByPolicy, onRelease } = outcomes[index];
      this.admittedAtMs[index] = atMs;
      if (decidedByPolicy === true) this.decidedByPolicy = true;
      if (onRelease !== undefined) this.releaseHooks = [...this.releaseHooks, onRelease];
    }
  }

  /** The checks of its slots (`slots`) or of its rate limits, named by their admission. */
  holdings(slots: boolean): Check[] {
    const held: Check[] = [];
    for (let index = 0; index < this.checks.length; index++) {
      const check = this.checks[index];
      if (holdsSlots(check.limit) === slots) {
        held.push(check.admittedAt(this.admittedAtMs[index], this.decidedByPolicy));
      }
    }
    return held;
  }
}

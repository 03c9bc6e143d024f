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
  ) {}

  get key(): string {
    this.madeKey ??= `${this.prefix}{${encodeKeyPart(this.subject)}}${this.keySuffix}`;
    return this.madeKey;
  }

  /** This check, for a refund of the call its store admitted at `atMs`. */
  admittedAt(atMs: number | undefined): Check {
    const { limit, cost, space, subject, prefix, keySuffix } = this;
    return new Check(limit, cost, space, subject, prefix, keySuffix, atMs);
  }
}

const NO_HOOKS: readonly (() => void)[] = [];

/**
 * The checks of an admitted call, with what a refund or a release of it needs from its store's
 * outcomes: when each limit admitted it (`atMs`) and what its release must tell (`onRelease`).
 * Not the outcomes themselves: one may hold the subject's whole state (the MemoryStore's step: a
 * sliding window's every admission), and an admitted decision can be kept for minutes (a multi
 * round-trip call's charge).
 */
export class AdmittedChecks {
  private readonly admittedAtMs: (number | undefined)[];
  readonly releaseHooks: readonly (() => void)[] = NO_HOOKS;

  constructor(
    readonly checks: readonly Check[],
    outcomes: readonly LimitOutcome[],
  ) {
    this.admittedAtMs = new Array<number | undefined>(outcomes.length);
    for (let index = 0; index < outcomes.length; index++) {
      const { atMs, onRelease } = outcomes[index];
      this.admittedAtMs[index] = atMs;
      if (onRelease !== undefined) this.releaseHooks = [...this.releaseHooks, onRelease];
    }
  }

  /** The checks of its slots (`slots`) or of its rate limits, named by their admission. */
  holdings(slots: boolean): Check[] {
    const held: Check[] = [];
    for (let index = 0; index < this.checks.length; index++) {
      const check = this.checks[index];
      if (holdsSlots(check.limit) === slots) {
        held.push(check.admittedAt(this.admittedAtMs[index]));
      }
    }
    return held;
  }
}

import type { BuiltInRateLimit } from './built-in-limit.js';
import type { RateLimitContext } from './context.js';
import { Decision, type LimitResult, type RateLimitDecision } from './decision.js';
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

const NO_HOOKS: readonly (() => void)[] = [];

/** The engine an admitted decision came from: the one that frees its slots. */
export interface Admitter {
  release(set: LimitSet, decision: RateLimitDecision): Promise<void>;
}

/**
 * An admitted decision, with what refunding it once and releasing its slots once needs: its engine
 * and limit set, its context, its checks, when each limit admitted it (`atMs`), whether the outage
 * policy decided it, what its release must tell (`onRelease`). In private fields of the decision
 * itself, so that its JSON and keys stay its public fields and an admitted call makes one object,
 * not a decision and a receipt. Not the outcomes themselves: one may hold the subject's whole state
 * (the MemoryStore's step: a sliding window's every admission), and an admitted decision can be
 * kept for minutes (a multi round-trip call's charge).
 */
export class AdmittedDecision extends Decision {
  readonly #admitter: Admitter;
  readonly #set: LimitSet;
  #context: RateLimitContext;
  readonly #checks: readonly Check[];
  /** One time when every limit admitted the call at the same moment (one store step), else per check. */
  readonly #admittedAtMs: number | undefined | readonly (number | undefined)[];
  /** Whether the outage policy decided the call: any outcome marked so (the safe side). */
  readonly #decidedByPolicy: boolean = false;
  readonly #releaseHooks: readonly (() => void)[] = NO_HOOKS;
  /** The engine's count of resets when the call was admitted. */
  readonly #resets: number;
  #refunded = false;
  #released = false;

  constructor(
    results: readonly LimitResult[],
    admitter: Admitter,
    set: LimitSet,
    context: RateLimitContext,
    checks: readonly Check[],
    outcomes: readonly LimitOutcome[],
    resets: number,
  ) {
    super(true, null, 0, undefined, results);
    this.#admitter = admitter;
    this.#set = set;
    this.#context = context;
    this.#checks = checks;
    this.#resets = resets;
    const firstAtMs = outcomes.length === 0 ? undefined : outcomes[0].atMs;
    let sameTime = true;
    for (let index = 0; index < outcomes.length; index++) {
      const { atMs, decidedByPolicy, onRelease } = outcomes[index];
      if (atMs !== firstAtMs) sameTime = false;
      if (decidedByPolicy === true) this.#decidedByPolicy = true;
      if (onRelease !== undefined) this.#releaseHooks = [...this.#releaseHooks, onRelease];
    }
    this.#admittedAtMs = sameTime ? firstAtMs : outcomes.map((outcome) => outcome.atMs);
  }

  override release(): Promise<void> {
    return this.#admitter.release(this.#set, this);
  }

  /** The context the call was admitted with, or one that stands for it (see `lightenReceipt`). */
  get context(): RateLimitContext {
    return this.#context;
  }

  override keepContext(context: RateLimitContext): void {
    this.#context = context;
  }

  /** Whether `admitter` admitted it for `set`. */
  admittedBy(admitter: Admitter, set: LimitSet): boolean {
    return admitter === this.#admitter && set === this.#set;
  }

  /** Whether a reset of the admitter came since the call (`resets`: its count of resets now). */
  resetSince(resets: number): boolean {
    return resets !== this.#resets;
  }

  /** Whether it was refunded; `markRefunded` says so, once the refund is sure to go ahead. */
  get refunded(): boolean {
    return this.#refunded;
  }

  markRefunded(): void {
    this.#refunded = true;
  }

  /** Whether its slots were released; `markReleased` says so and answers what to tell then. */
  get released(): boolean {
    return this.#released;
  }

  markReleased(): readonly (() => void)[] {
    this.#released = true;
    return this.#releaseHooks;
  }

  /** The checks of its slots (`slots`) or of its rate limits, named by their admission. */
  holdings(slots: boolean): Check[] {
    const held: Check[] = [];
    const atMs = this.#admittedAtMs;
    for (let index = 0; index < this.#checks.length; index++) {
      const check = this.#checks[index];
      if (holdsSlots(check.limit) === slots) {
        const admittedAtMs = typeof atMs === 'object' ? atMs[index] : atMs;
        held.push(check.admittedAt(admittedAtMs, this.#decidedByPolicy));
      }
    }
    return held;
  }
}

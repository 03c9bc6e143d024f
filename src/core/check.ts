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

const NO_HOOKS: readonly (() => void)[] = [];

/** The engine that admitted a call: the one that frees its slots. */
export interface Admitter {
  release(set: LimitSet, decision: RateLimitDecision): Promise<void>;
}

/**
 * What an admitted decision took: enough to give it back once and release its slots once. Its
 * checks, with what a refund or a release needs from the store's outcomes: when each limit
 * admitted the call (`atMs`), whether the outage policy decided it, what its release must tell
 * (`onRelease`). Not the outcomes themselves: one may hold the subject's whole state (the
 * MemoryStore's step: a sliding window's every admission), and an admitted decision can be kept
 * for minutes (a multi round-trip call's charge). Kept on the decision under a symbol rather than
 * in a WeakMap from decisions, which costs the garbage collector dearly at a million decisions a
 * second.
 */
export interface Receipt extends Releasable {
  readonly engine: Admitter;
  readonly set: LimitSet;
  readonly checks: readonly Check[];
  /** One time when every limit admitted the call at the same moment (one store step), else per check. */
  readonly admittedAtMs: number | undefined | readonly (number | undefined)[];
  /** Whether the outage policy decided the call: any outcome marked so (the safe side). */
  readonly decidedByPolicy: boolean;
  readonly releaseHooks: readonly (() => void)[];
  /** The engine's count of resets when the call was admitted. */
  readonly resets: number;
  refunded: boolean;
  released: boolean;
}

/**
 * The receipt of a call `engine` admitted. A literal with a shared `release`, and no array beside
 * it in the usual case: an in-memory call makes one per admission, and a literal is the cheapest
 * object to make.
 */
export function admissionReceipt(
  engine: Admitter,
  set: LimitSet,
  context: RateLimitContext,
  checks: readonly Check[],
  outcomes: readonly LimitOutcome[],
  resets: number,
): Receipt {
  return {
    engine,
    set,
    context,
    checks,
    admittedAtMs: admissionTimes(outcomes),
    decidedByPolicy: anyDecidedByPolicy(outcomes),
    releaseHooks: releaseHooksOf(outcomes),
    resets,
    refunded: false,
    released: false,
    release: releaseSlots,
  };
}

function releaseSlots(this: Receipt, decision: RateLimitDecision): Promise<void> {
  return this.engine.release(this.set, decision);
}

/** The checks of its slots (`slots`) or of its rate limits, named by their admission. */
export function holdings(receipt: Receipt, slots: boolean): Check[] {
  const held: Check[] = [];
  const { checks, admittedAtMs, decidedByPolicy } = receipt;
  for (let index = 0; index < checks.length; index++) {
    const check = checks[index];
    if (holdsSlots(check.limit) === slots) {
      const atMs = typeof admittedAtMs === 'object' ? admittedAtMs[index] : admittedAtMs;
      held.push(check.admittedAt(atMs, decidedByPolicy));
    }
  }
  return held;
}

function admissionTimes(
  outcomes: readonly LimitOutcome[],
): number | undefined | readonly (number | undefined)[] {
  const firstAtMs = outcomes.length === 0 ? undefined : outcomes[0].atMs;
  for (let index = 1; index < outcomes.length; index++) {
    if (outcomes[index].atMs !== firstAtMs) return outcomes.map((outcome) => outcome.atMs);
  }
  return firstAtMs;
}

function anyDecidedByPolicy(outcomes: readonly LimitOutcome[]): boolean {
  for (let index = 0; index < outcomes.length; index++) {
    if (outcomes[index].decidedByPolicy === true) return true;
  }
  return false;
}

/** What a release of the call must tell: each outcome's `onRelease`. */
function releaseHooksOf(outcomes: readonly LimitOutcome[]): readonly (() => void)[] {
  let hooks = NO_HOOKS;
  for (let index = 0; index < outcomes.length; index++) {
    const onRelease = outcomes[index].onRelease;
    if (onRelease !== undefined) hooks = [...hooks, onRelease];
  }
  return hooks;
}

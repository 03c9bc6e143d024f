import type { BuiltInRateLimit } from '../limits.js';

/** States written in one stretch of time, and the moment the last of them expires. */
class Generation {
  readonly states = new Map<string, unknown>();
  expiresAtMs = -Infinity;
}

/**
 * The states of one key space: the keys of one limit that differ only by subject (or, for checks
 * that come without a space, every such key). States live in two generations: writes go to the
 * young one and move a key out of the old one. A generation is dropped whole once the last of its
 * states has expired, so expiry costs no walk over the keys, however many there are: a million
 * keys expire without stalling the event loop. A state is kept a little past its expiry (until
 * its generation goes), which is harmless: every algorithm reads an expired state as no state.
 */
export class KeySpace {
  private young = new Generation();
  private old = new Generation();
  /**
   * Other limit objects found to have the same settings as `limit` (several handlers' copies).
   * Weak: limits made per request must not stay in memory for the store's life.
   */
  private readonly alike = new WeakSet<BuiltInRateLimit>();

  constructor(readonly limit: BuiltInRateLimit | undefined) {}

  get size(): number {
    return this.young.states.size + this.old.states.size;
  }

  get(member: string): unknown {
    return this.young.states.get(member) ?? this.old.states.get(member);
  }

  set(member: string, state: unknown, expiresAtMs: number): void {
    this.young.states.set(member, state);
    if (expiresAtMs > this.young.expiresAtMs) this.young.expiresAtMs = expiresAtMs;
    if (this.old.states.size !== 0) this.old.states.delete(member);
  }

  clear(): void {
    this.young = new Generation();
    this.old = new Generation();
  }

  delete(member: string): void {
    this.young.states.delete(member);
    this.old.states.delete(member);
  }

  /** Drops the generations whose states have all expired; the young one ages once the old is gone. */
  sweep(nowMs: number): void {
    if (this.old.expiresAtMs <= nowMs) this.old = new Generation();
    if (this.young.expiresAtMs <= nowMs) this.young = new Generation();
    if (this.old.states.size === 0 && this.young.states.size !== 0) {
      this.old = this.young;
      this.young = new Generation();
    }
  }

  /** Whether `limit` may keep its states here: only a limit of the same algorithm and settings. */
  accepts(limit: BuiltInRateLimit): boolean {
    if (limit === this.limit || this.alike.has(limit)) return true;
    const first = this.limit as BuiltInRateLimit;
    const same =
      limit.algorithm === first.algorithm &&
      JSON.stringify(limit.params) === JSON.stringify(first.params);
    if (same) this.alike.add(limit);
    return same;
  }
}

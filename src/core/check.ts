import type { BuiltInRateLimit } from './built-in-limit.js';
import type { LimitCheck } from './stores/store.js';
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

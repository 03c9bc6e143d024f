import type { Type } from '@nestjs/common';
import { refuseUnknownOptions } from '../core/config-checks.js';
import { describeValue, type McpRateLimiter, type RateLimitContext } from '../core/context.js';
import { RateLimitConfigError } from '../core/limits.js';
import type { Limiter } from '../core/engine.js';
import { markCopy } from '../core/package-copy.js';

/** One choice of a {@link ContextualLimit}: limiters, or injectable limiter classes. */
export type ContextualChoice =
  Limiter | Type<McpRateLimiter> | readonly (Limiter | Type<McpRateLimiter>)[];

/**
 * Limits chosen per call from the call's context, e.g. a higher quota for a paid tier. Build it with
 * {@link limitByContext}. Every choice is validated at bootstrap; each keeps its own counters.
 */
export class ContextualLimit {
  /** @internal use {@link limitByContext}. */
  constructor(
    readonly choices: Readonly<Record<string, ContextualChoice>>,
    readonly select: (context: RateLimitContext) => string,
    readonly fallback: string | undefined,
    /** The keys of the options it was built from, checked at bootstrap. */
    readonly optionNames: readonly string[] = [],
  ) {}
}

markCopy(ContextualLimit.prototype);

// A record over every key of the options: the compiler keeps the list whole.
const OPTION_NAMES = Object.keys({
  limits: true,
  select: true,
  fallback: true,
} satisfies Record<keyof LimitByContextOptions, true>);

/**
 * The names of the choices of `spec`, its options checked (at bootstrap, where a bad one fails
 * startup naming the handler: `where`).
 */
export function checkedChoiceNames(spec: ContextualLimit, where: string): string[] {
  refuseUnknownOptions(where, spec.optionNames, OPTION_NAMES);
  if (typeof spec.select !== 'function') {
    throw new RateLimitConfigError(`${where}: "select" must be a function (context) => name`);
  }
  if (spec.choices === null || typeof spec.choices !== 'object') {
    throw new RateLimitConfigError(`${where}: "limits" must be an object of named limits`);
  }
  const names = Object.keys(spec.choices);
  if (names.length === 0) {
    throw new RateLimitConfigError(`${where}: "limits" must name at least one choice`);
  }
  if (spec.fallback !== undefined && !names.includes(spec.fallback)) {
    throw new RateLimitConfigError(
      `${where}: "fallback" must be one of ${names.join(', ')} (got ${describeValue(spec.fallback)})`,
    );
  }
  return names;
}

/** Options of {@link limitByContext}. */
export interface LimitByContextOptions {
  /** The limits of each choice, by name. */
  readonly limits: Readonly<Record<string, ContextualChoice>>;
  /** Picks the choice for a call. */
  readonly select: (context: RateLimitContext) => string;
  /**
   * The choice used when `select` throws or answers an unknown name (default: the first choice
   * declared). Make it the strictest, so that a failing selector never grants more.
   */
  readonly fallback?: string;
}

/**
 * Limits that depend on the call's context, e.g. a higher quota for a paid tier. Every choice is
 * validated at bootstrap and keeps counters of its own (the settings are part of the key).
 *
 * @example
 * ```ts
 * @RateLimit(
 *   limitByContext({
 *     limits: {
 *       free: new FixedWindowRateLimit({ maxCalls: 10, perSeconds: 60 }),
 *       paid: new FixedWindowRateLimit({ maxCalls: 1000, perSeconds: 60 }),
 *     },
 *     select: (context) => ((context.request as any)?.user?.plan === 'paid' ? 'paid' : 'free'),
 *   }),
 * )
 * ```
 */
export function limitByContext(options: LimitByContextOptions): ContextualLimit {
  const optionNames = typeof options === 'object' && options !== null ? Object.keys(options) : [];
  return new ContextualLimit(options?.limits, options?.select, options?.fallback, optionNames);
}

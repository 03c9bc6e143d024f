import type { Type } from '@nestjs/common';
import type { McpRateLimiter, RateLimitContext } from '../core/context.js';
import type { Limiter } from '../core/engine.js';

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
  ) {}
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
  return new ContextualLimit(options?.limits, options?.select, options?.fallback);
}

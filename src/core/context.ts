/**
 * What a limiter knows about one call. Built by the Nest guard from the MCP call, or by
 * `createRateLimiter().consume()` outside Nest.
 */
export interface RateLimitContext {
  /** Who is calling: the resolved subject (`user:<id>`, `ip:<address>`, a session, or your own key). */
  readonly subject: string;
  /** The MCP method, e.g. `tools/call`, `resources/read`, `prompts/get`, when known. */
  readonly method?: string;
  /** The tool, resource or prompt name, when known. */
  readonly target?: string;
  /** The raw HTTP request (Express or Fastify), when there is one. */
  readonly request?: unknown;
  /** The call's arguments, when known. */
  readonly args?: unknown;
  /** The cost of the call (default 1). */
  readonly cost: number;
}

/**
 * What a limiter answers: the seconds to wait before retrying when the call is denied, or `null` to
 * allow it. The richer object form also reports the quota for headers.
 */
export type RateLimitVerdict =
  | number
  | null
  | {
      /** Seconds to wait when denied, `null` when allowed. */
      readonly retryAfter: number | null;
      /** Units left after this call. */
      readonly remaining?: number;
      /** The quota of the limit. */
      readonly limit?: number;
      /** Seconds until the quota is full again. */
      readonly resetAfter?: number;
    };

/**
 * The limiter protocol: anything with `consume(context)`. Custom limiters implement it, as plain
 * objects or as injectable Nest providers.
 *
 * Custom limiters run before the built-in ones, in declared order, and stop at the first denial.
 * When a later limiter (custom or built-in) denies the call, `refund(context)` is called on every
 * custom limiter that had already admitted it, so that a denied call costs no quota anywhere.
 */
export interface McpRateLimiter {
  consume(context: RateLimitContext): RateLimitVerdict | Promise<RateLimitVerdict>;
  /** Optional: give back what `consume` took for a call that was denied by a later limiter. */
  refund?(context: RateLimitContext): void | Promise<void>;
}

/** Whether `value` is a limiter of the protocol: anything with a `consume(context)` method. */
export function isProtocolLimiter(value: unknown): value is McpRateLimiter {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { consume?: unknown }).consume === 'function'
  );
}

/** A short description of a value for error messages, e.g. `object Foo`, `function bar`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'function') {
    return `function ${value.name === '' ? '(anonymous)' : value.name}`;
  }
  if (typeof value === 'object') return `object ${value.constructor?.name ?? 'Object'}`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'symbol') return value.toString();
  // What is left prints as itself: a number, a boolean, a bigint, undefined.
  return `${value as number | boolean | bigint | undefined}`;
}

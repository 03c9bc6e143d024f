import type { Limiter } from '../core/engine.js';
import type { StoreErrorPolicy } from '../core/stores/insurance.js';
import type { RateLimitStore } from '../core/stores/store.js';
import type { McpCall } from '../mcp/call.js';

/**
 * The message-level limit: a limit on every MCP message a client POSTs to an endpoint marked with
 * `@LimitMcpMessages()` ("how many questions can you ask once inside"). Only JSON-RPC requests
 * count: notifications and responses never do, nor the `excludedMethods`. Its counters live apart
 * from the per-handler ones.
 */
export interface McpMessageLimitOptions {
  /** The limits every message must pass (AND-combined), e.g. 50 per 5 minutes. */
  readonly limits: readonly Limiter[];
  /** Methods never counted, matched exactly, e.g. `['initialize', 'ping']`. */
  readonly excludedMethods?: readonly string[];
}

/** One rate-limit decision, as told to the `onDecision` hook. */
export interface RateLimitEvent {
  /** `allowed`, `denied`, or `store-error` (the store failed; the outage policy decided instead). */
  readonly type: 'allowed' | 'denied' | 'store-error';
  /** Whether the handler's limits or the endpoint's message-level limit decided. */
  readonly scope: 'handler' | 'message';
  /** The handler, as `Class.method`. */
  readonly handler: string;
  readonly subject: string;
  readonly method: string | undefined;
  readonly target: string | undefined;
  /** The limit that denied (its description), when denied. */
  readonly limit: string | undefined;
  /** Seconds to wait, when denied; `null` otherwise. */
  readonly retryAfter: number | null;
  /** The store's error, for `store-error`. */
  readonly error?: unknown;
}

/** Options of `McpRateLimitModule.forRoot()` / `forRootAsync()`. */
export interface McpRateLimitModuleOptions {
  /**
   * Where limit state lives. Default: the app's own cache (`CACHE_MANAGER` of
   * `@nestjs/cache-manager`) when it has one, else an in-process `MemoryStore`.
   */
  readonly store?: RateLimitStore;
  /** What to do while the store cannot answer: `insurance` (default), `allow` or `deny`. */
  readonly onStoreError?: StoreErrorPolicy;
  /** `false` turns every limit off (default `true`). */
  readonly enabled?: boolean;
  /** `RateLimit` / `RateLimit-Policy` response headers on HTTP (default `true`). */
  readonly headers?: boolean;
  /**
   * HTTP status of a denial on an HTTP endpoint: `200` (default; MCP clients read the JSON-RPC
   * error in the body) or `429`. `Retry-After` is sent either way.
   */
  readonly httpStatus?: 200 | 429;
  /**
   * Who is calling, when the default (user id, else client IP, else the MCP session) is not what
   * you want. Answer `undefined` to fall back to the default. Must not throw; if it does, the
   * default is used.
   */
  readonly resolveSubject?: (call: McpCall) => string | undefined;
  /** The message-level limit of `@LimitMcpMessages()` endpoints. */
  readonly messageLimit?: McpMessageLimitOptions;
  /** Told of every decision: allowed, denied, and store errors. Must be quick; errors are ignored. */
  readonly onDecision?: (event: RateLimitEvent) => void;
  /** Prefix of every storage key (default `mcprl:`). */
  readonly prefix?: string;
}

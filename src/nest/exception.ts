import { HttpException } from '@nestjs/common';
import type { LimitResult } from '../core/engine.js';
import { rateLimitErrorResponse, type RateLimitErrorData } from '../mcp/json-rpc-error.js';

/**
 * A denied call on an HTTP endpoint (and, thrown by your own code, in an MCP handler). Its body is
 * the JSON-RPC error response, so even without {@link McpRateLimitFilter} Nest answers it sensibly;
 * the filter adds the chosen status (200 by default), the app's `errorCode`, and the
 * `Retry-After` / `RateLimit` headers.
 *
 * @example
 * ```ts
 * const decision = await limiter.consume(subject);
 * if (!decision.allowed) throw new RateLimitExceededException({ retryAfter: decision.retryAfter! });
 * ```
 */
export class RateLimitExceededException extends HttpException {
  constructor(
    readonly data: RateLimitErrorData,
    /** The JSON-RPC id to echo. */
    readonly requestId: unknown = null,
    /** The limit results of the denial, for the `RateLimit` headers. */
    readonly results: readonly LimitResult[] = [],
    /** Whether the message-level limit denied. */
    readonly messageLevel = false,
    /**
     * Set when a denied MCP-Nest `tools/call` is to be answered as a tool result
     * (`toolDenial: 'result'`): the tool's name, if known.
     */
    readonly toolResult?: { readonly tool: string | undefined },
  ) {
    super(rateLimitErrorResponse(requestId, data), 429);
  }
}

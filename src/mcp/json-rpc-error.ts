/** The JSON-RPC error code of a rate-limited MCP call (the MCP convention, as in the references). */
export const RATE_LIMITED_CODE = -32005;

/** The message of that error. */
export const RATE_LIMITED_MESSAGE = 'Rate limit exceeded';

/** Longest string id echoed back; a longer one is answered with `id: null`. */
const MAX_ECHOED_ID_LENGTH = 4096;

/** A JSON-RPC request id as it may be echoed: a string, a finite number, or null. */
export type JsonRpcId = string | number | null;

/** `error.data` of a rate-limit denial. `retryAfter` is always there, in whole seconds. */
export interface RateLimitErrorData {
  /** Seconds to wait before retrying (at least 1). */
  readonly retryAfter: number;
  /** The limit that denied, e.g. `FixedWindowRateLimit(5 per 10s)`, when known. */
  readonly limit?: string;
  /** That limit's quota, when known. */
  readonly quota?: number;
  /** That limit's window in seconds, when known. */
  readonly windowSeconds?: number;
}

/** The JSON-RPC error object of a denial. */
export interface RateLimitJsonRpcError {
  readonly code: typeof RATE_LIMITED_CODE;
  readonly message: typeof RATE_LIMITED_MESSAGE;
  readonly data: RateLimitErrorData;
}

/** The whole JSON-RPC response of a denial, echoing the request id. */
export interface RateLimitErrorResponse {
  readonly jsonrpc: '2.0';
  readonly id: JsonRpcId;
  readonly error: RateLimitJsonRpcError;
}

/**
 * The id to echo for whatever a client sent as `id`: strings (bounded) and finite numbers as they
 * are, anything else (objects, arrays, booleans, huge strings, NaN) as `null`, as JSON-RPC does for
 * requests whose id cannot be read.
 */
export function echoableId(id: unknown): JsonRpcId {
  if (typeof id === 'string') return id.length <= MAX_ECHOED_ID_LENGTH ? id : null;
  if (typeof id === 'number' && Number.isFinite(id)) return id;
  return null;
}

/** The JSON-RPC error object of a denial. `retryAfter` is sanitized to whole seconds ≥ 1. */
export function rateLimitError(data: RateLimitErrorData): RateLimitJsonRpcError {
  return {
    code: RATE_LIMITED_CODE,
    message: RATE_LIMITED_MESSAGE,
    data: { ...data, retryAfter: wireSeconds(data.retryAfter) },
  };
}

/** The JSON-RPC response of a denial, echoing `id` (see {@link echoableId}). */
export function rateLimitErrorResponse(
  id: unknown,
  data: RateLimitErrorData,
): RateLimitErrorResponse {
  return { jsonrpc: '2.0', id: echoableId(id), error: rateLimitError(data) };
}

/** Whole seconds for the wire: rounded up, at least 1, and always a finite number. */
function wireSeconds(seconds: number): number {
  if (!Number.isFinite(seconds)) return 1;
  return Math.max(1, Math.ceil(seconds));
}

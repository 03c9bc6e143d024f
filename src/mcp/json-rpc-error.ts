import type { RateLimitDecision } from '../core/decision.js';
import { BuiltInRateLimit } from '../core/limits.js';

/** The JSON-RPC error code of a rate-limited MCP call (the MCP convention, as in the references). */
export const RATE_LIMITED_CODE = -32005;

/**
 * The code SEP-3304 proposes for rate limiting in the range the MCP specification reserves for its
 * own codes (-32020..-32099). Only a proposal: the one reserved code a user may choose.
 */
export const PROPOSED_RATE_LIMITED_CODE = -32023;

/**
 * `-32002`, "Resource not found": MCP defines it outside its reserved range (the SDK's
 * `ProtocolErrorCode.ResourceNotFound`), and clients still read it so.
 */
const RESOURCE_NOT_FOUND_CODE = -32002;

/**
 * Why `code` cannot be a denial's code, or undefined when it can: an integer outside the codes
 * JSON-RPC defines (-32700, -32600..-32603), MCP's "Resource not found" (-32002) and the
 * MCP-reserved -32020..-32099 (except {@link PROPOSED_RATE_LIMITED_CODE}), so a client never
 * mistakes a denial for another error.
 */
export function errorCodeProblem(code: unknown): string | undefined {
  if (typeof code !== 'number' || !Number.isSafeInteger(code)) return 'must be an integer';
  if (code === -32700 || (code <= -32600 && code >= -32603)) {
    return 'is a code JSON-RPC defines for another error';
  }
  if (code === RESOURCE_NOT_FOUND_CODE) {
    // A denied resources/read would tell the client the resource does not exist: it would not retry.
    return 'is the code MCP defines for "Resource not found"';
  }
  if (code <= -32020 && code >= -32099 && code !== PROPOSED_RATE_LIMITED_CODE) {
    return `is in -32020..-32099, reserved by the MCP specification for codes it defines (only ${PROPOSED_RATE_LIMITED_CODE}, proposed by SEP-3304 for rate limiting, may be chosen there)`;
  }
  return undefined;
}

/** The message of that error. */
export const RATE_LIMITED_MESSAGE = 'Rate limit exceeded';

/**
 * JSON-RPC's "Invalid params": a call that costs more than a limit's whole quota is no rate-limit
 * denial. No window ever admits it, so a `retryAfter` would send the client into retries that all
 * fail; the call itself must change (fewer pages, a smaller batch).
 */
export const ABOVE_QUOTA_CODE = -32602;
/** JSON-RPC's "Invalid Request": a batch of more counted messages than the message-level quota. */
export const BATCH_ABOVE_QUOTA_CODE = -32600;
/** The message of those errors. */
export const ABOVE_QUOTA_MESSAGE = 'Call exceeds the rate limit quota';

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
  /**
   * What the call costs under that limit, set only when it is above `quota`: the call is never
   * admitted and goes on the wire as an "Invalid params" error, not as a denial (see
   * {@link isAboveQuota}).
   */
  readonly cost?: number;
}

/** The JSON-RPC error object of a denial, or of a call above a limit's whole quota. */
export interface RateLimitJsonRpcError {
  /**
   * -32005 unless the app chose another code (`errorCode`); -32602 (-32600 for a batch) for a
   * call above the quota.
   */
  readonly code: number;
  readonly message: typeof RATE_LIMITED_MESSAGE | typeof ABOVE_QUOTA_MESSAGE;
  /** Above the quota: `limit`, `quota`, `windowSeconds` and `cost`, and no `retryAfter`. */
  readonly data: RateLimitErrorData | AboveQuotaErrorData;
}

/** `error.data` of a call above a limit's whole quota: no `retryAfter`, waiting does not help. */
export type AboveQuotaErrorData = Omit<RateLimitErrorData, 'retryAfter'>;

/** Whether `data` is of a call above its limit's whole quota (never admitted). */
export function isAboveQuota(data: RateLimitErrorData): boolean {
  return data.cost !== undefined && data.quota !== undefined && data.cost > data.quota;
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

/**
 * The JSON-RPC error object of a denial, `retryAfter` sanitized to whole seconds ≥ 1; for a call
 * above its limit's whole quota, the "Invalid params" error (`batch`: "Invalid Request").
 */
export function rateLimitError(
  data: RateLimitErrorData,
  code: number = RATE_LIMITED_CODE,
  batch = false,
): RateLimitJsonRpcError {
  if (isAboveQuota(data)) {
    const { retryAfter: _unsatisfiable, ...fields } = data;
    return {
      code: batch ? BATCH_ABOVE_QUOTA_CODE : ABOVE_QUOTA_CODE,
      message: ABOVE_QUOTA_MESSAGE,
      data: fields,
    };
  }
  return {
    code,
    message: RATE_LIMITED_MESSAGE,
    data: { ...data, retryAfter: wireRetryAfter(data) },
  };
}

/** The JSON-RPC response of a denial, echoing `id` (see {@link echoableId}). */
export function rateLimitErrorResponse(
  id: unknown,
  data: RateLimitErrorData,
  code: number = RATE_LIMITED_CODE,
  batch = false,
): RateLimitErrorResponse {
  return { jsonrpc: '2.0', id: echoableId(id), error: rateLimitError(data, code, batch) };
}

/** A denied `tools/call` answered as a tool result (`toolDenial: 'result'`). */
export interface RateLimitToolResult {
  readonly content: { readonly type: 'text'; readonly text: string }[];
  /** The same fields as the JSON-RPC error's `data`. */
  readonly structuredContent: (RateLimitErrorData | AboveQuotaErrorData) & {
    readonly error: 'rate_limited' | 'above_quota';
  };
  readonly isError: true;
}

/**
 * The tool result of a denial: a text a model can act on (which tool, when to retry) and the
 * error's `data` as `structuredContent`, for clients that hand JSON-RPC errors to the model as an
 * opaque failure.
 */
export function rateLimitToolResult(
  tool: string | undefined,
  data: RateLimitErrorData,
): RateLimitToolResult {
  const which = tool === undefined ? 'This tool' : `The tool "${tool}"`;
  const limit = data.limit === undefined ? '' : ` (${data.limit})`;
  if (isAboveQuota(data)) {
    return {
      content: [
        {
          type: 'text',
          text: `${ABOVE_QUOTA_MESSAGE}: ${which} was not run. This call costs ${data.cost}, more than the ${data.quota} its limit${limit} ever allows; retrying will not help, a smaller call will.`,
        },
      ],
      // The error's data: what rateLimitError leaves of a call above the quota (no retryAfter).
      structuredContent: { error: 'above_quota', ...rateLimitError(data).data },
      isError: true,
    };
  }
  const fields = { ...data, retryAfter: wireRetryAfter(data) };
  const seconds = fields.retryAfter === 1 ? '1 second' : `${fields.retryAfter} seconds`;
  return {
    content: [
      {
        type: 'text',
        text: `Rate limit exceeded: ${which} was not run${limit}. Retry after ${seconds}.`,
      },
    ],
    structuredContent: { error: 'rate_limited', ...fields },
    isError: true,
  };
}

/** The denial's `retryAfter` as the wire says it (also in the `Retry-After` header). */
export function wireRetryAfter(data: RateLimitErrorData): number {
  return wireSeconds(data.retryAfter);
}

/**
 * Whole seconds for the wire: rounded up, at least 1, always a finite number, and at most 15 digits
 * (a huge one printed as JavaScript's `1e+21` would be no `Retry-After` value a client can read).
 */
function wireSeconds(seconds: number): number {
  if (!Number.isFinite(seconds)) return 1;
  return Math.min(MAX_WIRE_SECONDS, Math.max(1, Math.ceil(seconds)));
}

/** About 31.7 million years: the most a denial tells a client to wait. */
const MAX_WIRE_SECONDS = 999_999_999_999_999;

/**
 * The `data` of a denial: seconds to wait and, when a built-in limit denied, which and its quota;
 * with the call's `cost` when a limit can never admit it (that limit's, whichever waits longest).
 */
export function errorDataOf(decision: RateLimitDecision): RateLimitErrorData {
  const retryAfter = decision.retryAfter ?? 1;
  const aboveQuota = decision.results.find(
    (result) =>
      !result.allowed &&
      result.cost !== undefined &&
      result.quota !== undefined &&
      result.cost > result.quota,
  );
  const deniedBy = aboveQuota?.limiter ?? decision.deniedBy;
  if (deniedBy instanceof BuiltInRateLimit) {
    return {
      retryAfter,
      limit: deniedBy.describe(),
      quota: deniedBy.policy.quota,
      windowSeconds: deniedBy.policy.windowSeconds,
      ...(aboveQuota === undefined ? {} : { cost: aboveQuota.cost }),
    };
  }
  return { retryAfter };
}

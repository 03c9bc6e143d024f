import type { Type } from '@nestjs/common';
import { holdsSlots } from '../core/limit-set.js';
import { refuseUnknownOptions } from '../core/config-checks.js';
import { BuiltInRateLimit, RateLimitConfigError } from '../core/limits.js';
import { POLICIES } from '../core/stores/outage-policy.js';
import { errorCodeProblem } from '../mcp/json-rpc-error.js';
import type { McpRateLimiter } from '../core/context.js';
import type { Limiter } from '../core/engine.js';
import type { StoreErrorPolicy } from '../core/stores/outage-policy.js';
import type { RateLimitStore } from '../core/stores/store.js';
import type { McpCall } from '../mcp/call.js';
import type { ContextualLimit } from './contextual-limit.js';
import type { MeterProviderLike } from './telemetry.js';

/** What `@RateLimit()` accepts. */
export type RateLimitSpec =
  | Limiter
  /** An injectable class implementing `McpRateLimiter`, resolved through Nest DI once at bootstrap. */
  | Type<McpRateLimiter>
  | ContextualLimit;

/** The per-call cost: a number, or a function of the call's arguments. */
// `any`: the handler's own argument type is what users write in the function.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RateLimitCostSpec = number | ((args: any, call: McpCall) => number);

/**
 * How a denied `tools/call` is answered: `'error'` (the JSON-RPC error, -32005 by default) or
 * `'result'` (a tool result with `isError: true`, a text the model can act on and
 * `structuredContent` with the fields of the error's `data`). Resources, prompts and HTTP
 * endpoints always answer the error.
 */
export type ToolDenial = 'error' | 'result';

/**
 * What a call whose caller cannot be identified gets (no user, no readable client IP, no MCP
 * session): `'deny'` (default: the handler never runs) or `'shared'` (one bucket, `unidentified`,
 * shared by every such caller).
 */
export type UnidentifiedCallers = 'deny' | 'shared';

/** How an admitted call ended, as told to `refundWhen`. */
export interface CallOutcome {
  /** The handler, as `Class.method`. */
  readonly handler: string;
  readonly subject: string;
  readonly method: string | undefined;
  readonly target: string | undefined;
  /** Whether the handler threw (or its Observable errored). */
  readonly failed: boolean;
  /** What it threw, when it failed. */
  readonly error?: unknown;
  /**
   * What it answered, when it did not fail (an MCP tool's `isError: true` result is an answer). For
   * an MCP-Nest tool, the result MCP-Nest sends: the tool's value when it has a `content` array,
   * else `{ content: [{ type: 'text', text: <its JSON> }] }` (never the tool's raw data, which may
   * be the client's).
   */
  readonly result?: unknown;
}

/** Per-handler options of `@RateLimitOptions()`; each overrides the module-wide option. */
export interface HandlerRateLimitOptions {
  /** See {@link McpRateLimitModuleOptions.toolDenial}. */
  readonly toolDenial?: ToolDenial;
  /** See {@link McpRateLimitModuleOptions.refundWhen}. */
  readonly refundWhen?: (outcome: CallOutcome) => boolean;
  /**
   * The handler continues multi round-trip calls (MCP 2026-07-28): it may answer `input_required`
   * with a `requestState`, and the retry carrying that state is the same logical call, charged
   * once (for up to 10 rounds). Default `false`: every round is charged as a new call, and no
   * answer is read for a state. Only a handler that issues states should declare it: the shape of
   * an answer cannot tell a state the handler issued from data it returns (a stored document the
   * client wrote could look like an `input_required` answer and buy free retries). On an HTTP route,
   * only an MCP endpoint (`@LimitMcpMessages()`) may declare it.
   */
  readonly multiRoundTrip?: boolean;
}

/**
 * The message-level limit: a limit on every MCP message a client POSTs to an endpoint marked with
 * `@LimitMcpMessages()` ("how many questions can you ask once inside"). Only JSON-RPC requests
 * count: notifications and responses never do, nor the protocol's housekeeping (`initialize`,
 * `ping`, `server/discover`, `tasks/*`) unless listed in `countedMethods`, nor `excludedMethods`.
 * Its counters live apart from the per-handler ones.
 */
export interface McpMessageLimitOptions {
  /** The limits every message must pass (AND-combined), e.g. 50 per 5 minutes. */
  readonly limits: readonly Limiter[];
  /** More methods never counted, matched exactly, e.g. `['tools/list']`. */
  readonly excludedMethods?: readonly string[];
  /**
   * Housekeeping methods to count anyway, e.g. `['tasks/get']` to limit task polling. The
   * housekeeping methods are `initialize`, `ping`, `server/discover`, `tasks/get`,
   * `tasks/update`, `tasks/cancel`, `tasks/result` and `tasks/list`.
   */
  readonly countedMethods?: readonly string[];
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
   * you want. Answer `undefined` to fall back to the default. A throw, or an answer that is not a
   * non-empty string, fails the call (it is never quietly keyed by the default instead).
   */
  readonly resolveSubject?: (call: McpCall) => string | undefined;
  /**
   * A call whose caller cannot be identified: `'deny'` (default) or `'shared'`; see
   * {@link UnidentifiedCallers}.
   */
  readonly unidentified?: UnidentifiedCallers;
  /**
   * The JSON-RPC error code of a denial (default -32005, the MCP community's convention), an
   * integer. Refused at bootstrap: the codes JSON-RPC defines (-32700, -32600..-32603), -32002
   * (MCP's "Resource not found"), and -32020..-32099, reserved by the MCP specification
   * (2026-07-28) for codes it defines, except -32023, the `RateLimited` code proposed by SEP-3304.
   */
  readonly errorCode?: number;
  /** How a denied `tools/call` is answered (default `'error'`); see {@link ToolDenial}. */
  readonly toolDenial?: ToolDenial;
  /**
   * Give the quota back when an admitted call ends this way, e.g. `(outcome) => outcome.failed`
   * (express-rate-limit's `skipFailedRequests`). Applies to handlers with `@RateLimit()`; must be
   * quick and must not throw (a throw keeps the charge). Never asked for a call its client gave up
   * on (cancelled, connection gone): such a call stays charged.
   */
  readonly refundWhen?: (outcome: CallOutcome) => boolean;
  /** The message-level limit of `@LimitMcpMessages()` endpoints. */
  readonly messageLimit?: McpMessageLimitOptions;
  /**
   * Told of every decision: allowed, denied, and store errors. Must be quick (it runs in the call);
   * a throw, or the rejection of an async hook, is logged and changes no decision.
   */
  readonly onDecision?: (event: RateLimitEvent) => unknown;
  /** Prefix of every storage key (default `mcprl:`); an empty hash tag `{}` in it is refused. */
  readonly prefix?: string;
  /**
   * OpenTelemetry metrics (decisions, store call durations, store outage; never the subject).
   * Default: on when `@opentelemetry/api` is installed and a meter provider is registered before
   * the app boots; `false` turns them off; `{ meterProvider }` records with that provider.
   */
  readonly metrics?: boolean | { readonly meterProvider: MeterProviderLike };
  /**
   * Tell agents their limits (default `false`): `tools/list` and `resources/list` carry each
   * limited handler's limits in `_meta["com.npmjs.nestjs-mcp-rate-limit/limits"]`, and an admitted
   * tool result the caller's remaining quota and reset time in
   * `_meta["com.npmjs.nestjs-mcp-rate-limit/quota"]`.
   */
  readonly advertiseLimits?: boolean;
}

// Records over every key of the option types: the compiler keeps the lists whole.
const OPTION_NAMES = Object.keys({
  store: true,
  onStoreError: true,
  enabled: true,
  headers: true,
  httpStatus: true,
  resolveSubject: true,
  unidentified: true,
  errorCode: true,
  toolDenial: true,
  refundWhen: true,
  messageLimit: true,
  onDecision: true,
  prefix: true,
  metrics: true,
  advertiseLimits: true,
} satisfies Record<keyof McpRateLimitModuleOptions, true>);

const MESSAGE_LIMIT_OPTION_NAMES = Object.keys({
  limits: true,
  excludedMethods: true,
  countedMethods: true,
} satisfies Record<keyof McpMessageLimitOptions, true>);

/** The module's options, validated once at bootstrap: a bad one fails startup, naming the option. */
export function checkOptions(options: McpRateLimitModuleOptions): McpRateLimitModuleOptions {
  const fail = (message: string): never => {
    throw new RateLimitConfigError(`McpRateLimitModule: ${message}`);
  };
  if (options === null || typeof options !== 'object') fail('options must be an object');
  refuseUnknownOptions('McpRateLimitModule', Object.keys(options), OPTION_NAMES);
  const { enabled, headers, httpStatus, onStoreError, messageLimit, store, prefix } = options;
  if (enabled !== undefined && typeof enabled !== 'boolean') fail('"enabled" must be a boolean');
  if (headers !== undefined && typeof headers !== 'boolean') fail('"headers" must be a boolean');
  const { advertiseLimits } = options;
  if (advertiseLimits !== undefined && typeof advertiseLimits !== 'boolean') {
    fail('"advertiseLimits" must be a boolean');
  }
  if (httpStatus !== undefined && httpStatus !== 200 && httpStatus !== 429) {
    fail(`"httpStatus" must be 200 or 429 (got ${String(httpStatus)})`);
  }
  if (onStoreError !== undefined && !POLICIES.includes(onStoreError)) {
    fail(`"onStoreError" must be insurance, allow or deny (got ${String(onStoreError)})`);
  }
  for (const name of ['resolveSubject', 'onDecision'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') {
      fail(`"${name}" must be a function`);
    }
  }
  if (store !== undefined && typeof (store as { evaluate?: unknown })?.evaluate !== 'function') {
    fail('"store" must implement evaluate(checks)');
  }
  const { unidentified, errorCode, toolDenial } = options;
  if (unidentified !== undefined && unidentified !== 'deny' && unidentified !== 'shared') {
    fail(`"unidentified" must be deny or shared (got ${String(unidentified)})`);
  }
  if (errorCode !== undefined) {
    const problem = errorCodeProblem(errorCode);
    if (problem !== undefined) fail(`"errorCode" ${problem} (got ${String(errorCode)})`);
  }
  if (toolDenial !== undefined && toolDenial !== 'error' && toolDenial !== 'result') {
    fail(`"toolDenial" must be error or result (got ${String(toolDenial)})`);
  }
  if (options.refundWhen !== undefined && typeof options.refundWhen !== 'function') {
    fail('"refundWhen" must be a function (outcome) => boolean');
  }
  if (prefix !== undefined && (typeof prefix !== 'string' || prefix.length === 0)) {
    fail('"prefix" must be a non-empty string');
  }
  const metrics = options.metrics;
  if (
    metrics !== undefined &&
    typeof metrics !== 'boolean' &&
    typeof (metrics as { meterProvider?: { getMeter?: unknown } } | null)?.meterProvider
      ?.getMeter !== 'function'
  ) {
    fail('"metrics" must be a boolean or { meterProvider } (an OpenTelemetry MeterProvider)');
  }
  if (messageLimit !== undefined) {
    if (messageLimit === null || typeof messageLimit !== 'object') {
      fail('"messageLimit" must be an object { limits, excludedMethods? }');
    }
    refuseUnknownOptions(
      'McpRateLimitModule: messageLimit',
      Object.keys(messageLimit),
      MESSAGE_LIMIT_OPTION_NAMES,
    );
    if (!Array.isArray(messageLimit.limits) || messageLimit.limits.length === 0) {
      fail('"messageLimit.limits" must be a non-empty array of limits');
    }
    if (messageLimit.limits.some(holdsSlots)) {
      // Nothing follows a message to its end to release a slot: limit the tools instead.
      fail(
        '"messageLimit.limits" cannot hold a ConcurrencyLimit (a message has no end to release its slot at); put it on the handlers with @RateLimit()',
      );
    }
    if (
      messageLimit.limits.some(
        (limit) => limit instanceof BuiltInRateLimit && limit.cost !== undefined,
      )
    ) {
      // A POST costs the requests it carries; a limit's own cost would replace that count (a batch
      // of 50 counted as 1).
      fail(
        '"messageLimit.limits" cannot hold a limit with its own "cost": the message-level limit counts each request of a batch; remove "cost" (to charge by arguments, put the limit on the handlers with @RateLimit())',
      );
    }
    for (const name of ['excludedMethods', 'countedMethods'] as const) {
      const methods = messageLimit[name];
      if (
        methods !== undefined &&
        (!Array.isArray(methods) || !methods.every((method) => typeof method === 'string'))
      ) {
        fail(`"messageLimit.${name}" must be an array of method names`);
      }
    }
  }
  return options;
}

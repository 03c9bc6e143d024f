import { describeValue, type RateLimitContext } from '../core/context.js';
import { RateLimitConfigError } from '../core/config-checks.js';
import { defaultSubject } from '../core/subject.js';
import { echoableId, type JsonRpcId } from './json-rpc-error.js';

/**
 * What one MCP call is, read from the raw material of a request. Every field is read defensively:
 * whatever a client sends, building a call never throws.
 */
export interface McpCall {
  /** The JSON-RPC method, e.g. `tools/call`, when it could be read. */
  readonly method: string | undefined;
  /** The tool or prompt name, or the resource URI, when it could be read. */
  readonly target: string | undefined;
  /** The request id to echo in an error response (`null` when absent or unusable). */
  readonly requestId: JsonRpcId;
  /** The call's arguments (tool/prompt arguments, resource parameters), when known. */
  readonly args: unknown;
  /** The raw HTTP request (Express or Fastify), when there is one. */
  readonly request: unknown;
  /**
   * The MCP session, when the call has no HTTP request to key it by: `stdio`, or the session id of a
   * session-aware transport.
   */
  readonly session: string | undefined;
  /**
   * The `requestState` a multi round-trip retry echoes (MCP 2026-07-28), when the call carries
   * one. Client-controlled: it proves nothing until the server recognises it.
   */
  readonly requestState?: string | undefined;
}

/** Longest method or target name kept; longer ones are cut (they only inform, never key). */
const MAX_NAME_LENGTH = 1024;

/**
 * Framework requests (Fastify's) by the Node request they wrap. On Fastify, MCP-Nest hands its
 * handlers the Node request (`request.raw`), while an auth guard set `user` (and Fastify worked out
 * `ip`, trust-proxy included) on the framework request. The guard remembers the pair when the HTTP
 * request passes it, so that the tool calls of that request are keyed by the same user and IP.
 */
const frameworkRequests = new WeakMap<object, object>();

/** Remember `request` as the framework request around its Node request, when it wraps one. */
export function rememberFrameworkRequest(request: unknown): void {
  const raw = property(request, 'raw');
  if (isObject(raw) && raw !== request) frameworkRequests.set(raw, request as object);
}

/**
 * The call of an MCP-Nest handler, from its RPC context (`switchToRpc().getContext()`, an
 * `McpContext` with `mcpRequest`, `getRawRequest()` and `getSession()`) and its payload (the
 * validated arguments). Duck-typed, so this package does not depend on MCP-Nest.
 *
 * `method`, `target` and `requestId` are read from the MCP request when asked (they are getters):
 * an admitted call of built-in limits never asks, and reading them for every call was a fifth of
 * the guard's time in an MCP-Nest server.
 */
export function callFromMcpContext(mcpContext: unknown, payload: unknown): McpCall {
  const mcpRequest = property(mcpContext, 'mcpRequest');
  const raw = invoke(mcpContext, 'getRawRequest');
  const request = isObject(raw) ? (frameworkRequests.get(raw) ?? raw) : undefined;
  const session = request === undefined ? sessionOf(invoke(mcpContext, 'getSession')) : undefined;
  return new McpContextCall(mcpContext, mcpRequest, payload, request, session);
}

/** {@link callFromMcpContext}'s call: the names and id are read from the MCP request on demand. */
class McpContextCall implements McpCall {
  constructor(
    private readonly mcpContext: unknown,
    private readonly mcpRequest: unknown,
    readonly args: unknown,
    readonly request: unknown,
    readonly session: string | undefined,
  ) {}

  get method(): string | undefined {
    return name(field(this.mcpRequest, 'method'));
  }

  get target(): string | undefined {
    return targetOf(this.method, field(this.mcpRequest, 'params'));
  }

  get requestId(): JsonRpcId {
    return echoableId(field(this.mcpRequest, 'id'));
  }

  /**
   * The SDK lifts `requestState` off the request before MCP-Nest sees it and hands it over on its
   * per-request context (McpContext argument 4): `mcpReq.requestState()`.
   */
  get requestState(): string | undefined {
    try {
      const context = this.mcpContext as { getArgByIndex?: (index: number) => unknown };
      const mcpReq = field(context.getArgByIndex?.(4), 'mcpReq');
      if (!isObject(mcpReq)) return undefined;
      const state: unknown = (mcpReq as { requestState?: () => unknown }).requestState?.();
      return typeof state === 'string' ? state : undefined;
    } catch {
      return undefined;
    }
  }

  /** The fields, as the plain call would have them (for logs and JSON). */
  toJSON(): McpCall {
    const { method, target, requestId, args, request, session, requestState } = this;
    return { method, target, requestId, args, request, session, requestState };
  }
}

/**
 * The limiters' view of a call. `method` and `target` are read from the call when a limiter asks
 * (built-in limits without `key` or `cost` options never do), for the reason of
 * `callFromMcpContext`.
 */
export class CallContext implements RateLimitContext {
  readonly request: unknown;
  readonly args: unknown;

  constructor(
    private readonly call: McpCall,
    readonly subject: string,
    readonly cost: number,
  ) {
    this.request = call.request;
    this.args = call.args;
  }

  get method(): string | undefined {
    return this.call.method;
  }

  get target(): string | undefined {
    return this.call.target;
  }

  toJSON(): RateLimitContext {
    const { subject, method, target, request, args, cost } = this;
    return { subject, method, target, request, args, cost };
  }
}

/**
 * Whether the client gave the call up: its MCP request was cancelled (the SDK aborts the request's
 * signal, McpContext argument 4's `mcpReq.signal`, on `notifications/cancelled` or when the
 * transport closes), or the connection of its HTTP request (by default the MCP context's raw
 * request) is gone. Never throws.
 */
export function cancelledByClient(
  mcpContext: unknown,
  request: unknown = invoke(mcpContext, 'getRawRequest'),
): boolean {
  interface SdkContext {
    readonly mcpReq?: { readonly signal?: { readonly aborted?: unknown } };
  }
  interface NodeRequest {
    readonly socket?: { readonly destroyed?: unknown };
  }
  try {
    const context = mcpContext as { getArgByIndex?: (index: number) => unknown } | undefined;
    const sdk = context?.getArgByIndex?.(4) as SdkContext | undefined;
    if (sdk?.mcpReq?.signal?.aborted === true) return true;
    const http = request as (NodeRequest & { readonly raw?: NodeRequest }) | undefined;
    // Fastify's request wraps the Node one.
    return (http?.raw ?? http)?.socket?.destroyed === true;
  } catch {
    return false;
  }
}

/**
 * The call of an HTTP request to an endpoint that speaks MCP JSON-RPC: method, id and target from
 * the body (a single JSON-RPC message), or from the `Mcp-Method` / `Mcp-Name` headers when the body
 * has no such field. A body field the guard cannot read (a name that is no string) leaves the call
 * unnamed, not named by the headers: a route's own dispatcher may still read it (`tools[name]`
 * takes `["export"]` for `export`), and the client would choose what the route's cost, choice of
 * limits and multi round-trip binding see. A batch (an array) names no single request: no method,
 * target nor id. Not the headers' either: the SDK checks them against a single message's body, never
 * against a batch's, so a client could name a cheap tool there for a batch of expensive calls.
 */
export function callFromHttpRequest(request: unknown): McpCall {
  const body = property(request, 'body');
  const batch = Array.isArray(body);
  const message = isObject(body) && !batch ? body : undefined;
  const params = field(message, 'params');
  const named = batch ? undefined : request; // whose headers may name the call
  const method = hasField(message, 'method')
    ? name(field(message, 'method'))
    : name(header(named, 'mcp-method'));
  const targetNamed = hasField(params, 'name') || hasField(params, 'uri');
  return {
    method,
    target: targetNamed ? targetOf(method, params) : name(header(named, 'mcp-name')),
    requestId: echoableId(field(message, 'id')),
    args: argumentsOf(params),
    request,
    session: undefined,
    requestState: stringOrUndefined(field(params, 'requestState')),
  };
}

/**
 * The subject of a call: what `resolve(call)` answers when given, unless it answers `undefined` (or
 * `null`); then the default — the user id or client IP of the HTTP request (`defaultSubject`), or,
 * without an HTTP request (STDIO), the MCP session: `session:<id>`, where STDIO is one session per
 * process. `undefined` when the caller cannot be identified (e.g. its connection was reset before
 * its address was read): such a caller must not get a quota of its own (option `unidentified`).
 * Throws when the user id cannot be used (see `defaultSubject`), when `resolve` throws, and when it
 * answers anything but a non-empty string or `undefined`: a resolver's failure, which a client's
 * input may provoke, must never quietly key the caller by its address instead.
 */
export function subjectOf(call: McpCall, resolve?: (call: McpCall) => unknown): string | undefined {
  if (resolve !== undefined) {
    const custom = resolve(call);
    if (typeof custom === 'string' && custom.length > 0) return custom;
    if (custom !== undefined && custom !== null) {
      throw new RateLimitConfigError(
        `resolveSubject must answer a non-empty string, or undefined for the default subject (got ${describeValue(custom)})`,
      );
    }
  }
  if (call.request !== undefined) return defaultSubject(call.request);
  if (call.session !== undefined) return `session:${call.session}`;
  return undefined;
}

/** A header's value (first one when repeated), from Express, Fastify or a plain Node request. */
export function header(request: unknown, lowerCaseName: string): string | undefined {
  const headers = property(request, 'headers');
  const value = field(headers, lowerCaseName);
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

function sessionOf(sessionInfo: unknown): string | undefined {
  const sessionId = field(sessionInfo, 'sessionId');
  if (typeof sessionId === 'string' && sessionId.length > 0) return sessionId;
  const transport = field(sessionInfo, 'transport');
  // STDIO serves one client per process: the process's connection is the session.
  if (transport === 'stdio') return 'stdio';
  return undefined;
}

/**
 * What a call is about, from its params: a resource method's URI (a resource is named by its URI;
 * a `name` there is no field of the request, and the client could choose the target by adding one),
 * any other method's tool or prompt name, else a URI.
 */
function targetOf(method: string | undefined, params: unknown): string | undefined {
  const uri = name(field(params, 'uri'));
  if (method?.startsWith('resources/') === true) return uri;
  return name(field(params, 'name')) ?? uri;
}

/** What a multi round-trip retry adds to its request's params: not the request's arguments. */
const ROUND_FIELDS: readonly string[] = ['requestState', 'inputResponses'];

/**
 * A JSON-RPC request's arguments: `params.arguments`, else its params (a resources/read's `uri`)
 * without what a multi round-trip retry adds, so that the retry has the arguments its charged
 * round had.
 */
function argumentsOf(params: unknown): unknown {
  const args = field(params, 'arguments');
  if (args !== undefined || !isObject(params)) return args ?? params;
  if (!ROUND_FIELDS.some((key) => field(params, key) !== undefined)) return params;
  try {
    // fromEntries defines each key, `__proto__` too, as an own field (an assignment would not).
    return Object.fromEntries(
      Object.entries(params).filter(([key]) => !ROUND_FIELDS.includes(key)),
    );
  } catch {
    return params;
  }
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function name(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  return value.length <= MAX_NAME_LENGTH ? value : value.slice(0, MAX_NAME_LENGTH);
}

/** An own property of an object, or undefined; getters that throw count as absent. */
function field(value: unknown, key: string): unknown {
  if (!isObject(value)) return undefined;
  try {
    return Object.prototype.hasOwnProperty.call(value, key)
      ? (value as Record<string, unknown>)[key]
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether an object has an own field `key`, whatever its value; one that cannot be asked (a proxy
 * that throws) is taken to have it, so that the headers do not name what it holds.
 */
function hasField(value: unknown, key: string): boolean {
  if (!isObject(value)) return false;
  try {
    return Object.prototype.hasOwnProperty.call(value, key);
  } catch {
    return true;
  }
}

/** `value[key]`, own or inherited; a getter that throws counts as absent. */
function property(value: unknown, key: string): unknown {
  if (!isObject(value)) return undefined;
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** `value[key]()` when it is a method; one that throws counts as absent. */
function invoke(value: unknown, key: string): unknown {
  if (!isObject(value)) return undefined;
  try {
    const method = (value as Record<string, unknown>)[key];
    return typeof method === 'function' ? (method as () => unknown).call(value) : undefined;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is object {
  return value !== null && typeof value === 'object';
}

import { RateLimitConfigError } from '../core/limits.js';
import { header } from './call.js';

/**
 * The tasks methods (extension `io.modelcontextprotocol/tasks` of 2026-07-28, and 2025-11-25's
 * experimental tasks): polling and steering a task the client was already charged for when its
 * `tools/call` was admitted.
 */
export const TASK_METHODS: readonly string[] = [
  'tasks/get',
  'tasks/update',
  'tasks/cancel',
  'tasks/result',
  'tasks/list',
];

/**
 * Methods the message-level limit skips unless told to count them: the protocol's own housekeeping
 * (the handshake `initialize` and its 2026-07-28 successor `server/discover`, `ping`, and the
 * tasks methods).
 */
export const HOUSEKEEPING_METHODS: readonly string[] = [
  'initialize',
  'server/discover',
  'ping',
  ...TASK_METHODS,
];

const TASK_METHOD_SET: ReadonlySet<string> = new Set(TASK_METHODS);

/**
 * Whether an HTTP request is exactly one tasks request (body and `Mcp-Method` header agree), which
 * a handler's own limits do not charge: its task's `tools/call` was charged. A batch, or a body
 * that says anything else, is not.
 */
export function isTaskRequest(request: unknown): boolean {
  try {
    const body = (request as { body?: unknown }).body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return false;
    const method = (body as { method?: unknown }).method;
    if (typeof method !== 'string' || !TASK_METHOD_SET.has(method)) return false;
    const headerMethod = header(request, 'mcp-method');
    return headerMethod === undefined || headerMethod === method;
  } catch {
    return false;
  }
}

/**
 * Which MCP messages count against the message-level limit (the Elixir reference's rule):
 * only POST requests count, and requests of other verbs that carry a parsed body (a route that
 * takes every verb, `@All()`, runs the messages of a PUT as well); JSON-RPC notifications (no `id`)
 * and responses never count; requests whose method is housekeeping ({@link HOUSEKEEPING_METHODS},
 * unless in `countedMethods`) or in `excludedMethods` are skipped.
 *
 * The rule is read so that a malformed message can never slip past: a message is skipped only when
 * it is positively a notification, a response, or exactly an excluded method (on the body and, when
 * present, on the `Mcp-Method` header alike). Anything else — unreadable bodies, odd casing or
 * whitespace around a method name, missing fields — counts as one message. A batch (array) counts
 * each of its messages. A POSTed JSON body nobody parsed (`request.body` undefined: Nest's JSON body
 * parser is off) cannot be counted at all: the MCP server would parse it itself, a whole batch of
 * requests, so it is refused (see {@link MessagePolicy.count}), never counted as one.
 */
export class MessagePolicy {
  private readonly excluded: ReadonlySet<string>;

  constructor(excludedMethods: readonly string[] = [], countedMethods: readonly string[] = []) {
    const counted = new Set(countedMethods);
    this.excluded = new Set([
      ...HOUSEKEEPING_METHODS.filter((method) => !counted.has(method)),
      ...excludedMethods,
    ]);
  }

  /**
   * How many messages of this HTTP request count (0 when none does). Throws a
   * `RateLimitConfigError` for a POST whose body was not parsed, the only request it cannot count.
   */
  count(request: unknown): number {
    try {
      const httpMethod = (request as { method?: unknown }).method;
      if (typeof httpMethod !== 'string') return 0;
      const body = (request as { body?: unknown }).body;
      // MCP POSTs its messages; a route that takes other verbs as well (`@All()`) runs what a PUT
      // or PATCH carries just the same, so any request with a parsed body counts. A GET or DELETE
      // without one (the MCP stream and session verbs) carries no message to run.
      const bodiless = body === undefined || isParserPlaceholder(body, request);
      if (httpMethod.toUpperCase() !== 'POST' && bodiless) return 0;
      const headerMethod = header(request, 'mcp-method');
      if (body === undefined && isUnparsedJson(request)) throw unparsedBody();
      if (Array.isArray(body)) {
        let counted = 0;
        for (const message of body) counted += this.counts(message, headerMethod) ? 1 : 0;
        return counted;
      }
      return this.counts(body, headerMethod) ? 1 : 0;
    } catch (error) {
      if (error instanceof RateLimitConfigError) throw error;
      // A request we cannot even read counts: unknown is never free.
      return 1;
    }
  }

  private counts(message: unknown, headerMethod: string | undefined): boolean {
    if (message === null || typeof message !== 'object' || Array.isArray(message)) return true;
    const record = message as Record<string, unknown>;
    const hasMethod = Object.prototype.hasOwnProperty.call(record, 'method');
    const hasId = Object.prototype.hasOwnProperty.call(record, 'id') && record.id !== undefined;
    // A notification: a method and no id. It is never answered, so it is never counted.
    if (hasMethod && !hasId) return false;
    // A response (to a server request): no method, a result or an error.
    if (
      !hasMethod &&
      (Object.prototype.hasOwnProperty.call(record, 'result') ||
        Object.prototype.hasOwnProperty.call(record, 'error'))
    ) {
      return false;
    }
    return !this.isExcluded(record.method, headerMethod);
  }

  private isExcluded(method: unknown, headerMethod: string | undefined): boolean {
    if (typeof method !== 'string' || !this.excluded.has(method)) return false;
    // A header that names another method makes the message ambiguous: count it.
    return headerMethod === undefined || this.excluded.has(headerMethod);
  }
}

/** Whether a request says it has a body (chunks, or a length that is not 0), whatever its verb. */
function carriesBody(request: unknown): boolean {
  if (header(request, 'transfer-encoding') !== undefined) return true;
  return Number(header(request, 'content-length') ?? '0') !== 0;
}

/**
 * The `{}` that Express's body parser sets on a request without a body. Known by the headers, which
 * say it had none; any other parsed body was sent (over HTTP/2 it may come with neither header).
 */
function isParserPlaceholder(body: unknown, request: unknown): boolean {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return false;
  return Object.keys(body).length === 0 && !carriesBody(request);
}

/**
 * Whether a POST carries a JSON body (a length or chunks, `Content-Type: application/json`) that no
 * body parser turned into `request.body`. Any other content type the MCP transport refuses (415)
 * before reading a message, so such a request counts as one like any other it cannot read.
 */
function isUnparsedJson(request: unknown): boolean {
  const mediaType = header(request, 'content-type')?.split(';')[0].trim().toLowerCase();
  return mediaType === 'application/json' && carriesBody(request);
}

function unparsedBody(): RateLimitConfigError {
  return new RateLimitConfigError(
    "the message-level limit cannot count this POST: its body was not parsed (request.body is undefined), and the MCP server would read it itself, a whole batch of requests. Keep Nest's JSON body parser on for the MCP endpoint (do not create the app with bodyParser: false)",
  );
}

import { createHash } from 'node:crypto';

/**
 * The `requestState`s this server issued in `input_required` answers (multi round-trip requests of
 * MCP 2026-07-28), so that the retry carrying one is charged as the same logical call, not a new
 * one. A state is bound to the subject and the handler it was issued to, expires, and is good once:
 * `requestState` comes from the client, so a replayed, foreign or fabricated one is charged like a
 * new call.
 */
export interface ContinuationRegistry<T = unknown> {
  /**
   * Remember that `state` was issued to `subject` by `handler`, with what the logical call carries
   * on to its continuation (`carried`, e.g. the charge of its first round), in the `round`th round
   * of the logical call (default 1: its first, charged). A state issued in the last round a logical
   * call may have is not remembered: its retry is charged as a new call.
   */
  record(subject: string, handler: string, state: string, carried?: T, round?: number): void;
  /**
   * When `state` was issued to `subject` by `handler` and is unused: uses it up and answers what it
   * was recorded with (and in which round); else undefined (it does not count).
   */
  claim(subject: string, handler: string, state: string): ClaimedState<T> | undefined;
}

/** What a claimed `requestState` was recorded with. */
export interface ClaimedState<T = unknown> {
  readonly carried?: T;
  /** The round of the logical call that issued the state (1: its first, charged). */
  readonly round?: number;
}

/** Options of the in-memory record of the `requestState`s this server issued. */
export interface InMemoryContinuationsOptions {
  /** How long an issued state counts as a continuation, in ms (default 5 minutes). */
  readonly ttlMs?: number;
  /** Most states remembered; the oldest are forgotten first (default 10 000). */
  readonly maxEntries?: number;
  /**
   * Most rounds of one logical call for its one charge (default 10): the retry after the last is
   * charged as a new call. Without a bound, a client that retries with each new state but never
   * sends the input asked for reruns the handler forever for one charge.
   */
  readonly maxRounds?: number;
  /** The clock, in ms (default `Date.now`). */
  readonly now?: () => number;
}

/**
 * The registry of one process. With several instances behind a load balancer, a retry that lands
 * on another instance is not recognised and is charged again: never free, at worst twice.
 * Stores a hash of (subject, handler, state), never the state itself, and at most `maxEntries`.
 */
export class InMemoryContinuations<T = unknown> implements ContinuationRegistry<T> {
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly maxRounds: number;
  private readonly now: () => number;
  /** Expiry (and what the state carries) by hash, in insertion order (the oldest first). */
  private readonly issued = new Map<string, IssuedState<T>>();

  constructor(options: InMemoryContinuationsOptions = {}) {
    this.ttlMs = options.ttlMs ?? 5 * 60_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.maxRounds = options.maxRounds ?? DEFAULT_MAX_ROUNDS;
    this.now = options.now ?? Date.now;
  }

  record(subject: string, handler: string, state: string, carried?: T, round = 1): void {
    const now = this.now();
    this.forgetExpired(now);
    const key = hashOf(subject, handler, state);
    this.issued.delete(key);
    if (round >= this.maxRounds) return;
    this.issued.set(key, { expiresAt: now + this.ttlMs, carried, round });
    if (this.issued.size > this.maxEntries) {
      this.issued.delete(this.issued.keys().next().value!);
    }
  }

  /** Whether `state` was issued to `subject` by `handler` and is unused; uses it up. */
  take(subject: string, handler: string, state: string): boolean {
    return this.claim(subject, handler, state) !== undefined;
  }

  claim(subject: string, handler: string, state: string): ClaimedState<T> | undefined {
    const key = hashOf(subject, handler, state);
    const issued = this.issued.get(key);
    if (issued === undefined) return undefined;
    this.issued.delete(key);
    return issued.expiresAt > this.now() ? issued : undefined;
  }

  /** Drop the expired entries at the front: a few per call, never a long sweep. */
  private forgetExpired(now: number): void {
    let budget = 16;
    for (const [key, { expiresAt }] of this.issued) {
      if (expiresAt > now || budget-- === 0) return;
      this.issued.delete(key);
    }
  }
}

/** Which round of its logical call the retry carrying a claimed state is (a new call: 1). */
export function nextRound(claimed: ClaimedState): number {
  return (claimed.round ?? 0) + 1;
}

/** How many rounds a logical call may have for its one charge, by default. */
export const DEFAULT_MAX_ROUNDS = 10;

interface IssuedState<T> extends ClaimedState<T> {
  readonly expiresAt: number;
}

function hashOf(subject: string, handler: string, state: string): string {
  return createHash('sha256')
    .update(subject)
    .update('\u0000')
    .update(handler)
    .update('\u0000')
    .update(state)
    .digest('base64url');
}

/**
 * How the value a handler returns reaches the client as an MCP answer:
 * - `'tool'`: an MCP-Nest tool's. MCP-Nest sends a value with a `content` array as the tool's
 *   result, and any other value as its JSON text (see {@link toolResultOf});
 * - `'result'`: an MCP-Nest resource's or prompt's: the result, as it is;
 * - `'json-rpc'`: a JSON-RPC endpoint's (a route marked `@LimitMcpMessages()`): the whole response,
 *   whose `result` is the answer.
 */
export type AnswerForm = 'tool' | 'result' | 'json-rpc';

/**
 * The `requestState` of an `input_required` answer, when the value a handler returned goes to the
 * client as one. Only then did this server issue it: a value that merely has those fields (client
 * data a tool returns, which MCP-Nest sends as JSON text; a body a route echoes) issues nothing,
 * or a client could make the server "issue" states of its choosing and retry for free. Asked only
 * of a handler declared to continue calls: data with a `content` array still looks like a result.
 */
export function issuedRequestState(value: unknown, form: AnswerForm): string | undefined {
  const result =
    form === 'json-rpc'
      ? resultOfResponse(value)
      : form === 'result' || isToolResult(value)
        ? value
        : undefined;
  if (result === null || typeof result !== 'object') return undefined;
  const record = result as { resultType?: unknown; requestState?: unknown };
  if (record.resultType !== 'input_required') return undefined;
  return typeof record.requestState === 'string' ? record.requestState : undefined;
}

/**
 * The result the client is answered for the value an MCP-Nest tool returned, as MCP-Nest makes it:
 * the value itself when it has a `content` array, else its JSON text in one text content (an
 * `outputSchema` adds `structuredContent`, not shown here); a value JSON cannot write is an
 * `isError` result.
 */
export function toolResultOf(value: unknown): unknown {
  if (isToolResult(value)) return value;
  try {
    return { content: [{ type: 'text', text: JSON.stringify(value) }] };
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    return { content: [{ type: 'text', text }], isError: true };
  }
}

/** Whether MCP-Nest sends a tool's value as the tool's result itself: it has a `content` array. */
function isToolResult(value: unknown): boolean {
  return (
    value !== null &&
    typeof value === 'object' &&
    Array.isArray((value as { content?: unknown }).content)
  );
}

/** The `result` of a JSON-RPC 2.0 response; undefined for anything else (an error, a bare body). */
function resultOfResponse(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return undefined;
  const response = value as { jsonrpc?: unknown; result?: unknown };
  return response.jsonrpc === '2.0' ? response.result : undefined;
}

/** The methods whose requests may be answered `input_required` and retried with a state. */
export const MULTI_ROUND_TRIP_METHODS: ReadonlySet<string> = new Set([
  'tools/call',
  'resources/read',
  'prompts/get',
]);

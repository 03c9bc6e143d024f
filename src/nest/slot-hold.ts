import { Observable, type Subscription } from 'rxjs';
import type { RateLimitDecision } from '../core/engine.js';
import { holdsSlots } from '../core/limit-set.js';
import type { ConcurrencyLimit } from '../core/limits.js';

/** The part of a Node `ServerResponse` a slot hold listens to. */
interface NodeResponse {
  once(event: 'close', listener: () => void): unknown;
  /** True once 'close' was emitted (Node ≥ 18). */
  readonly closed?: boolean;
}

/**
 * The runs of a call's handler, as the module's interceptor next to the handler follows them
 * (heldUntilEnded). Nest may run a handler more than once for one call (an interceptor of the
 * method that retries it, or runs it beside something else) and may stop listening to a run that
 * goes on (one that gives up on it).
 */
export interface HandlerRuns {
  /** A run of the handler starts; false refuses it (it does not run). */
  runStarted(): boolean;
  /** The run answered (its first value), failed or completed, or was let go of; once per run. */
  runSettled(): void;
  /** The run ended: answered, failed or completed, or followed for as long as it is followed. */
  runEnded(): void;
  /** Nest stopped listening to a run before it answered; it may still be running. */
  letGo(): void;
  /**
   * Whether the handler may still be working for the call: a run was let go of before it
   * answered, or one has neither answered nor ended yet (an interceptor of the method that fails
   * the call beside a working handler, as a race with a deadline of its own does, sends its error
   * on before it lets go of the handler).
   */
  readonly mayStillWork: boolean;
  /** How long a run let go of is followed to its end (0: not at all). */
  readonly followLetGoMs: number;
}

/**
 * The runs of a handler without `ConcurrencyLimit`s: only whether one may still be working, so
 * that a call whose handler may still be working is not given back (`refundWhen`).
 */
export class PlainRuns implements HandlerRuns {
  /** A run was let go of before it answered (see heldUntilEnded). */
  wasLetGo = false;
  /** Runs started that have not answered, failed, completed nor been let go of. */
  private unsettled = 0;

  get mayStillWork(): boolean {
    return this.wasLetGo || this.unsettled > 0;
  }

  get followLetGoMs(): number {
    return 0;
  }

  runStarted(): boolean {
    this.unsettled++;
    return true;
  }

  runSettled(): void {
    this.unsettled--;
  }

  runEnded(): void {}

  letGo(): void {
    this.wasLetGo = true;
  }
}

/**
 * The `ConcurrencyLimit` slots an admitted call holds, released exactly once (a slot freed twice
 * would free another call's slot), once the call has ended and no run of its handler is in flight:
 * - the call ends when the module's interceptor outside the method's own interceptors sees its
 *   answer or failure, or is let go of; a run ends as the interceptor next to the handler follows
 *   it (heldUntilEnded). A method-level retry() runs the handler again inside the same call and the
 *   same slots; a method-level cache interceptor that answers without the handler ends the call
 *   with no run in flight, freeing its slots at once;
 * - on a plain HTTP route, once its response is done too ('close', which Node emits after 'finish'
 *   and when the client leaves): a streamed answer (a `StreamableFile`, an SSE stream) keeps its
 *   slot until it is sent;
 * - when the call's HTTP response closes before the module's interceptor started: the call was
 *   stopped after the guard took its slots, by a later guard that refused it or by a class-level
 *   or global interceptor that answered without the handler (a cache hit). Without this, such a
 *   call held its slot until the lease expired, and callers refused anyway (unauthenticated) could
 *   hold a pool shared by everyone.
 *
 * A call with no HTTP response (STDIO, or an adapter whose response we cannot find) frees its slots
 * only through the interceptors, as it ends.
 */
export class SlotHold extends PlainRuns {
  /** The module's interceptor has taken the call up. */
  private callStarted = false;
  /** Until the call ended, or it is known it never runs. */
  private callOpen = true;
  /** Runs of the handler in flight. */
  private runs = 0;
  private responseOpen = false;
  private released = false;

  /**
   * `response` is the call's Node response, if any; `waitsForResponse` whether the slots stay
   * held until it closes (plain HTTP routes, whose handler's answer is the response), rather than
   * only until the handler ends (MCP-Nest handlers, whose answer is one message of the response).
   */
  constructor(
    private readonly decision: RateLimitDecision,
    private readonly logger: { warn(message: string): void },
    private readonly owner: string,
    response: NodeResponse | undefined,
    private readonly waitsForResponse: boolean,
  ) {
    super();
    if (response === undefined) return;
    if (response.closed === true) {
      // The client left while the call was being decided.
      this.responseClosed();
      return;
    }
    this.responseOpen = true;
    onClose(response, this);
  }

  /**
   * The module's interceptor takes the call up. False when the call already ended: its client left
   * before it ran, or an earlier try of it (an interceptor outside the module's that retries it)
   * ended, and its slots were freed; it must not run without them.
   */
  started(): boolean {
    if (!this.callOpen) return false;
    this.callStarted = true;
    return true;
  }

  /**
   * A run of the handler starts. Refused when a run was let go of and may still be running: an
   * interceptor that retries it (`timeout()` then `retry()`) would run it again beside itself, two
   * handlers on one slot.
   */
  override runStarted(): boolean {
    if (!this.callOpen || this.wasLetGo) return false;
    this.runs++;
    return super.runStarted();
  }

  override runEnded(): void {
    this.runs--;
    this.releaseWhenDone();
  }

  /**
   * The longest lease of the call's slots: past it, the store has freed them, so there is no
   * handler left to wait for.
   */
  override get followLetGoMs(): number {
    let longest = 0;
    for (const { limiter } of this.decision.results) {
      if (holdsSlots(limiter)) {
        longest = Math.max(longest, (limiter as ConcurrencyLimit).params.leaseMs);
      }
    }
    return longest === 0 ? DEFAULT_LEASE_MS : longest;
  }

  /** The call ended (answered or failed as its client sees it, or let go of). */
  ended(): void {
    this.callOpen = false;
    this.releaseWhenDone();
  }

  /** The call's HTTP response closed (finished, or its client left). */
  responseClosed(): void {
    this.responseOpen = false;
    // Closed before the call started: it never runs in time for this response.
    if (!this.callStarted) this.callOpen = false;
    this.releaseWhenDone();
  }

  private releaseWhenDone(): void {
    if (this.released || this.callOpen || this.runs > 0) return;
    if (this.waitsForResponse && this.responseOpen) return;
    this.released = true;
    this.decision.release().catch((error: unknown) => {
      this.logger.warn(
        `${this.owner}: releasing the call's concurrency slot failed, it frees when its lease expires: ${error instanceof Error ? error.message : String(error)}`,
      );
    });
  }
}

/** A lease when the decision names no ConcurrencyLimit (the limit's own default). */
const DEFAULT_LEASE_MS = 60_000;

/**
 * `handled` (a run of the handler, as the interceptor next to it gets it from `next.handle()`),
 * ending the run for `runs` when the handler really ends: its first value (an answer; an SSE
 * stream's first event), its error or its completion. Whoever listens may stop listening before
 * that: Nest unsubscribes an `@Sse()` route when its client disconnects, an interceptor that gives
 * up (Nest's `timeout()` recipe) unsubscribes the handler. An async handler's promise runs on all
 * the same, so its slot stays held: freed then, a client could disconnect and come back again and
 * again, each time leaving one more handler running under `maxConcurrent: 1`. Until it ends, the
 * handler is followed on (what it answers then goes nowhere), for at most `runs.followLetGoMs`
 * (the longest lease of its slots, past which the store has freed them anyway); a handler that has
 * already answered is let go of at once. So is no handler that has not: not even one that returned
 * its stream at once, since the work behind a stream (`from(promise)`) may run on when the stream
 * is unsubscribed, and its declaration cannot tell. A quiet SSE stream whose client left keeps its
 * slot until its first event or its lease.
 */
export function heldUntilEnded<T>(handled: Observable<T>, runs: HandlerRuns): Observable<T> {
  return new Observable<T>((subscriber) => {
    let answered = false;
    let letGo = false;
    // Set as it fails or completes: the teardown that follows (RxJS runs it from inside those
    // notifications) must not take it for a handler let go of, and keep a timer per failed call.
    let finished = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      runs.runSettled();
    };
    const end = () => {
      if (finished) return;
      finished = true;
      if (timer !== undefined) clearTimeout(timer);
      settle();
      runs.runEnded();
    };
    const inner: Subscription = handled.subscribe({
      next(value) {
        answered = true;
        settle();
        if (!letGo) return subscriber.next(value);
        inner.unsubscribe(); // a late answer, to no one: the handler ended
        end();
      },
      error(error: unknown) {
        end();
        if (!letGo) subscriber.error(error);
      },
      complete() {
        end();
        if (!letGo) subscriber.complete();
      },
    });
    return () => {
      if (finished) return; // it failed or completed: ended already
      if (answered) {
        inner.unsubscribe();
        end();
        return;
      }
      // Let go of before it answered: it may still be running.
      letGo = true;
      runs.letGo();
      settle();
      const followMs = runs.followLetGoMs;
      if (followMs === 0) {
        inner.unsubscribe();
        end();
        return;
      }
      timer = setTimeout(() => {
        inner.unsubscribe();
        end();
      }, followMs);
      timer.unref?.();
    };
  });
}

const HOLDS = Symbol('nestjs-mcp-rate-limit slot holds');

type ClosingResponse = NodeResponse & { [HOLDS]?: SlotHold[] };

/**
 * Tells `hold` when `response` closes. One listener per response, however many calls it answers (a
 * JSON-RPC batch of tool calls): Node warns of a leak past 10 listeners of one event.
 */
function onClose(response: ClosingResponse, hold: SlotHold): void {
  const holds = response[HOLDS];
  if (holds !== undefined) {
    holds.push(hold);
    return;
  }
  const all = [hold];
  response[HOLDS] = all;
  response.once('close', () => {
    for (const each of all) each.responseClosed();
  });
}

const RESPONSE = Symbol('nestjs-mcp-rate-limit response');

/**
 * Note on a framework request whose objects are not Node's (Fastify) its Node response, so that an
 * MCP-Nest handler's call, which reaches the framework request through the Node one (see
 * `rememberFrameworkRequest`), finds it. Runs where requests are linked (framework-requests.ts).
 */
export function rememberResponse(request: unknown, response: unknown): void {
  const raw = nodeResponseOf(response);
  if (raw !== undefined && request !== null && typeof request === 'object') {
    (request as { [RESPONSE]?: NodeResponse })[RESPONSE] = raw;
  }
}

/**
 * The Node response of an HTTP call's response object: Express's is one, Fastify's reply has it
 * as `raw`. Undefined for anything else.
 */
export function nodeResponseOf(response: unknown): NodeResponse | undefined {
  if (response === null || typeof response !== 'object') return undefined;
  const raw: unknown = (response as { raw?: unknown }).raw;
  if (isNodeResponse(raw)) return raw;
  return isNodeResponse(response) ? response : undefined;
}

/**
 * The Node response answering the HTTP request an MCP-Nest handler was called for: Express's
 * request has it as `res`; on Fastify it was noted by {@link rememberResponse} as the request
 * arrived. Undefined on STDIO.
 */
export function responseOfRequest(request: unknown): NodeResponse | undefined {
  if (request === null || typeof request !== 'object') return undefined;
  const noted = (request as { [RESPONSE]?: NodeResponse })[RESPONSE];
  return noted ?? nodeResponseOf((request as { res?: unknown }).res);
}

function isNodeResponse(value: unknown): value is NodeResponse {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { once?: unknown }).once === 'function' &&
    typeof (value as { writeHead?: unknown }).writeHead === 'function'
  );
}

import {
  HttpException,
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { defer, finalize, map, Observable, tap } from 'rxjs';
import { cancelledByClient } from '../mcp/call.js';
import { issuedRequestState, toolResultOf } from '../mcp/continuations.js';
import { withQuota } from './advertised-limits.js';
import {
  callKeyOf,
  carriedChargeOf,
  decidedCall,
  type CallProgress,
  type DecidedCall,
} from './admitted-calls.js';
import type { AppMethod } from './bootstrap-check.js';
import { declaresLimits } from './declarations.js';
import { followsCalls, followsRuns, type FollowUpDefaults } from './follow-ups.js';
import { heldUntilEnded, PlainRuns } from './slot-hold.js';
import type { CallOutcome } from './options.js';
import { NEST_INTERCEPTORS } from './tokens.js';

/**
 * What happens after an admitted call of a limited handler (the guard decides before it), judged
 * once per call, as its client sees it:
 * - on a handler declared `multiRoundTrip`, an `input_required` answer's `requestState` is
 *   recorded for the subject and the handler, so that the retry carrying it is charged once
 *   (multi round-trip requests, MCP 2026-07-28), up to the registry's bound on rounds;
 * - with `refundWhen`, the quota the call took is given back when the call ended that way, unless
 *   a run of its handler was let go of while it worked (it may still be working);
 * - with `advertiseLimits`, an admitted tool result carries the caller's quota;
 * - the call's `ConcurrencyLimit` slots are released once it has ended and no run of its handler
 *   is in flight (slot-hold.ts; {@link HandlerRunsInterceptor} follows the runs). A call whose
 *   client left between the guard and here has had its slots freed already, and does not run. A
 *   cancelled MCP request ends when its handler stops: the SDK aborts the request's signal
 *   (`notifications/cancelled`, a closed transport), and a handler that passes it to its work fails
 *   at once, freeing its slot; one that ignores it holds the slot until it ends, since it still runs.
 *
 * McpRateLimitModule binds it, as Nest scans the app, to the limited handlers whose calls it must
 * follow (see follow-ups.ts for which, and why not all), first among the method's own
 * interceptors: a method-level retry() or cache interceptor is inside the call it judges. A call
 * the guard did not mark passes straight through. It holds no state: each call carries its module
 * (several apps may share a process, and with it the handlers' metadata).
 */
@Injectable()
export class McpRateLimitInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const type = context.getType<string>();
    const decided =
      type === 'rpc' || type === 'http' ? decidedCall(callKeyOf(context, type)) : undefined;
    if (decided === undefined) return next.handle();
    // Taken up as Nest subscribes, not as it asks: an interceptor outside may drop the call in
    // between (a race with a cached answer), and a call taken up that never runs would keep its
    // slots until their lease.
    return defer(() => this.follow(decided, context, type, next));
  }

  /** Follows the call, once Nest subscribes to it. */
  private follow(
    decided: DecidedCall,
    context: ExecutionContext,
    type: string,
    next: CallHandler,
  ): Observable<unknown> {
    const progress = (decided.progress ??= newProgress());
    // Bound twice (the app binds it as well): the outer binding follows the call.
    if (progress.following) return next.handle();
    // Tried again by an interceptor outside this one, after its charge was given back.
    if (progress.refunded) return refusal(GIVEN_BACK, CONFLICT);
    const slots = decided.slots;
    // Its client left before it ran, or an earlier try ended: its slots were freed, it must not run
    // without them.
    if (slots !== undefined && !slots.started()) {
      return refusal(CLIENT_LEFT, CLIENT_LEFT_STATUS);
    }
    progress.following = true;
    // With `advertiseLimits`, an admitted tool call's result tells the caller its quota; not a
    // call whose charge was given back: what it took is the caller's again, so the quota the caller
    // last saw still holds, where the admission's would say one call less.
    const results = decided.plan.reportsQuota ? decided.charge?.decision.results : undefined;
    return next.handle().pipe(
      map((result) => {
        if (!progress.judged) {
          progress.judged = true;
          progress.refunded = this.answered(decided, result, context, type);
        }
        return results === undefined || progress.refunded ? result : withQuota(result, results);
      }),
      tap({
        error: (error: unknown) => {
          if (progress.judged) return;
          progress.refunded = this.ended(decided, { failed: true, error }, context, type);
          // A failed try that was not given back may be tried again by an interceptor outside (a
          // class-level retry()): the call's answer is then that try's, judged in its turn (its
          // input_required requestState recorded), unless a run may still be working.
          progress.judged = progress.refunded || mayStillWork(decided);
        },
      }),
      finalize(() => {
        progress.following = false;
        slots?.ended();
      }),
    );
  }

  /** Follows an answered call; whether its charge was given back. */
  private answered(
    decided: DecidedCall,
    result: unknown,
    context: ExecutionContext,
    type: string,
  ): boolean {
    const { followUp, subject, plan, round } = decided;
    // Only a handler declared to continue calls issues states: any other's answer may be data.
    const state =
      plan.multiRoundTrip && plan.answers !== undefined
        ? issuedRequestState(result, plan.answers)
        : undefined;
    // A call that carries no charge (a tasks poll, which the route's limits pass) continues
    // nothing: its state would bind no request, and any retry claiming it would run for free.
    const charge = state === undefined ? undefined : carriedChargeOf(decided);
    if (state !== undefined && charge !== undefined) {
      // The charge goes on with the logical call, for refundWhen at its end; for a bounded number
      // of rounds (the registry's), after which the retry is charged as a new call. A round that
      // asks for input is no end: refundWhen never judges it (it did nothing yet, by design).
      followUp.continuations.record(subject, plan.owner, state, charge, round);
      return false;
    }
    return this.ended(decided, { failed: false, result }, context, type);
  }

  /**
   * Gives the call's charge back when `refundWhen` says so; whether it did. A call its client gave
   * up on stays charged, however it ended (a handler may answer a cancellation with an `isError`
   * result as well as throw): a refund would let a client run the handler without limit by
   * cancelling each call once its work is done.
   */
  private ended(
    decided: DecidedCall,
    how: { failed: boolean; error?: unknown; result?: unknown },
    context: ExecutionContext,
    type: string,
  ): boolean {
    const { followUp, plan, charge } = decided;
    if (charge === undefined || plan.refundWhen === undefined) return false;
    if (cancelledOf(context, type)) return false;
    // A run of the handler was let go of before it answered (a method-level timeout()), or still
    // works (a method-level interceptor failed the call beside it): its work may go on, so the
    // call is not given back.
    if (mayStillWork(decided)) return false;
    const { charged } = charge;
    const outcome: CallOutcome = {
      handler: plan.owner,
      subject: decided.subject,
      method: charged.method,
      target: charged.target,
      ...how,
      // What the client is answered: a tool's value as MCP-Nest sends it, so that data a tool
      // returns (client data shaped `{ isError: true }`) is not taken for a failure to refund.
      ...(how.failed || plan.answers !== 'tool' ? {} : { result: toolResultOf(how.result) }),
    };
    let refund = false;
    try {
      refund = plan.refundWhen(outcome) === true;
    } catch (error) {
      followUp.logger.warn(
        `${plan.owner}: refundWhen failed, the call stays charged: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (refund) followUp.refund(plan, charge);
    return refund;
  }
}

/** Whether the client of this call gave it up (see `cancelledByClient`). */
function cancelledOf(context: ExecutionContext, type: string): boolean {
  return type === 'rpc'
    ? cancelledByClient(context.getArgByIndex(1))
    : cancelledByClient(undefined, context.getArgByIndex(0));
}

/**
 * Next to the handler, after the method's own interceptors: follows each run of the handler of a
 * call with `ConcurrencyLimit` slots or a `refundWhen` (slot-hold.ts `heldUntilEnded`), so that its
 * slots stay held while a run is in flight, and a call whose run was let go of while it worked is
 * not given back. A run after one that was let go of holding slots is refused, and so is one after
 * the call was given back.
 */
class HandlerRunsInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const type = context.getType<string>();
    const decided =
      type === 'rpc' || type === 'http' ? decidedCall(callKeyOf(context, type)) : undefined;
    if (decided === undefined) return next.handle();
    // A run starts as Nest subscribes to it: one asked for and dropped before (a method-level race
    // with a cached answer) never runs, and must not keep the call's slots until their lease.
    return defer(() => {
      const progress = (decided.progress ??= newProgress());
      // Started by an interceptor of the method after the call's charge was given back (a retry
      // it runs in the background once the call has answered): nobody would pay for it.
      if (progress.refunded) return refusal(GIVEN_BACK, CONFLICT);
      const runs = decided.slots ?? progress.runs;
      if (!runs.runStarted()) {
        return refusal(STILL_RUNNING, CONFLICT);
      }
      return heldUntilEnded(next.handle(), runs);
    });
  }
}

/** Whether a run of the call's handler may still be working (see `HandlerRuns.mayStillWork`). */
function mayStillWork(decided: DecidedCall): boolean {
  return (decided.slots ?? decided.progress?.runs)?.mayStillWork === true;
}

/**
 * A try the module does not let run, failing on a later turn of the event loop: an interceptor of
 * the app that retries without end (`retry()`) meets it again and again, and refused at once it
 * would do so within one turn, holding the event loop: the whole server would stop answering.
 */
function refusal(message: string, status: number): Observable<never> {
  return new Observable<never>((subscriber) => {
    const later = setImmediate(() => subscriber.error(new HttpException(message, status)));
    return () => clearImmediate(later);
  });
}

function newProgress(): CallProgress {
  return { following: false, judged: false, refunded: false, runs: new PlainRuns() };
}

/** What a call whose client left before it ran ends with (499, as nginx logs it): nobody reads it. */
const CLIENT_LEFT = 'The client closed the request before the call ran';
const CLIENT_LEFT_STATUS = 499;
const CONFLICT = 409;
const GIVEN_BACK =
  "The call's rate-limit charge was given back (refundWhen): it does not run again";
const STILL_RUNNING = 'An earlier run of this call may still be running in its concurrency slot';

/** The interceptors McpRateLimitModule binds: one each for the process, as they hold no state. */
const CALL_INTERCEPTOR = new McpRateLimitInterceptor();
const RUNS_INTERCEPTOR = new HandlerRunsInterceptor();

/**
 * Binds the interceptors to every limited method whose calls must be followed (follow-ups.ts),
 * once. Runs while Nest loads the app's providers, before it puts any handler's guards and
 * interceptors together (HTTP routes at `init()`, microservice patterns at `listen()`).
 */
export function bindFollowingInterceptor(
  methods: Iterable<AppMethod>,
  defaults: FollowUpDefaults,
): void {
  for (const method of methods) {
    const { type, handler } = method;
    if (!declaresLimits(method) || !followsCalls(type, handler, defaults)) continue;
    const bound = (Reflect.getMetadata(NEST_INTERCEPTORS, handler) as unknown[] | undefined) ?? [];
    const followed = followsRuns(type, handler, defaults) && !bound.includes(RUNS_INTERCEPTOR);
    const runs = followed ? [RUNS_INTERCEPTOR] : [];
    if (bound.includes(CALL_INTERCEPTOR)) {
      // Bound for another app of the process, or another class sharing the method (a subclass),
      // that had no runs to follow; this one may have (its refundWhen, its class's slots).
      if (followed) Reflect.defineMetadata(NEST_INTERCEPTORS, [...bound, ...runs], handler);
      continue;
    }
    // The call's follow-up first among the method's own interceptors, inside every interceptor of
    // its class and of the app (Nest runs those first): it judges what the method's interceptors
    // make of the call (a retry(), a cache hit). Its runs' follow-up last, next to the handler: an
    // interceptor that gives up on the handler with an error (timeout()) must not be taken for the
    // handler's end, which would free its slots while it runs.
    Reflect.defineMetadata(NEST_INTERCEPTORS, [CALL_INTERCEPTOR, ...bound, ...runs], handler);
  }
}

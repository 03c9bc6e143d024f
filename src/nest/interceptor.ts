import {
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
  type OnModuleInit,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { finalize, map, tap, type Observable } from 'rxjs';
import type { RateLimitDecision } from '../core/engine.js';
import { issuedRequestState } from '../mcp/continuations.js';
import { withQuota } from './advertised-limits.js';
import { callKeyOf, decidedCall, type DecidedCall } from './admitted-calls.js';
import type { CallOutcome } from './options.js';
import type { McpRateLimitService } from './rate-limit.service.js';
import { ServiceRef } from './service-ref.js';

/**
 * What happens after an admitted call of a limited handler (the guard decides before it):
 * - an `input_required` answer's `requestState` is recorded for the subject and the handler, so
 *   that the retry carrying it is charged once (multi round-trip requests, MCP 2026-07-28);
 * - with `refundWhen`, the quota the call took is given back when the call ended that way;
 * - the slots of its `ConcurrencyLimit`s are released when the call ends: answered, failed, or
 *   unsubscribed (MCP-Nest takes the first value and unsubscribes). A cancelled MCP request ends
 *   when its handler stops: the SDK aborts the request's signal (`notifications/cancelled`, a
 *   closed transport), and a handler that passes it to its work fails at once, freeing its slot; one
 *   that ignores it holds the slot until it ends, since it still runs.
 *
 * Bound by `@RateLimit()` to the handlers it limits; a call the guard did not admit under a plan
 * passes straight through.
 */
@Injectable()
export class McpRateLimitInterceptor implements NestInterceptor, OnModuleInit {
  constructor(moduleRef: ModuleRef) {
    this.serviceRef = new ServiceRef(moduleRef, 'McpRateLimitInterceptor');
  }

  private readonly serviceRef: ServiceRef;

  private get service(): McpRateLimitService {
    return this.serviceRef.get();
  }

  /** Fails bootstrap when the app has no McpRateLimitModule to decide with. */
  onModuleInit(): void {
    this.serviceRef.get();
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const type = context.getType<string>();
    const decided =
      type === 'rpc' || type === 'http' ? decidedCall(callKeyOf(context, type)) : undefined;
    if (decided === undefined) return next.handle();
    // Once per call, even for a handler whose Observable emits several values.
    let settled = false;
    // With `advertiseLimits`, an admitted tool call's result tells the caller its quota.
    const results = decided.plan.reportsQuota ? decided.decision?.results : undefined;
    const handled =
      results === undefined
        ? next.handle()
        : next.handle().pipe(map((result) => withQuota(result, results)));
    const followed = handled.pipe(
      tap({
        next: (result) => {
          if (settled) return;
          settled = true;
          this.answered(decided, result);
        },
        error: (error: unknown) => {
          if (settled) return;
          settled = true;
          this.ended(decided, { failed: true, error });
        },
      }),
    );
    const decision = decided.decision;
    // Only a handler with concurrency limits pays for the operator.
    if (!decided.plan.holdsSlots || decision === undefined) return followed;
    return followed.pipe(finalize(() => this.release(decided.plan.owner, decision)));
  }

  private release(owner: string, decision: RateLimitDecision): void {
    decision.release().catch((error: unknown) => {
      this.service.logger.warn(
        `${owner}: releasing the call's concurrency slot failed, it frees when its lease expires: ${error instanceof Error ? error.message : String(error)}`,
      );
    });
  }

  private answered(decided: DecidedCall, result: unknown): void {
    // A JSON-RPC controller answers the whole response; an MCP-Nest handler the result itself.
    const state =
      issuedRequestState(result) ?? issuedRequestState((result as { result?: unknown })?.result);
    if (state !== undefined) {
      this.service.continuations.record(decided.subject, decided.plan.owner, state);
    }
    this.ended(decided, { failed: false, result });
  }

  private ended(
    decided: DecidedCall,
    how: { failed: boolean; error?: unknown; result?: unknown },
  ): void {
    const { plan, charged, decision } = decided;
    if (charged === undefined || decision === undefined || plan.refundWhen === undefined) return;
    const outcome: CallOutcome = {
      handler: plan.owner,
      subject: decided.subject,
      method: charged.method,
      target: charged.target,
      ...how,
    };
    let refund = false;
    try {
      refund = plan.refundWhen(outcome) === true;
    } catch (error) {
      this.service.logger.warn(
        `${plan.owner}: refundWhen failed, the call stays charged: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (refund) this.service.refund(plan, charged, decision);
  }
}

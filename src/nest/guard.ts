import {
  Inject,
  Injectable,
  Optional,
  type CanActivate,
  type ExecutionContext,
  type OnModuleInit,
} from '@nestjs/common';
import { HttpAdapterHost, ModuleRef } from '@nestjs/core';
import type { RateLimitContext } from '../core/context.js';
import type { RateLimitDecision } from '../core/engine.js';
import {
  CallContext,
  callFromHttpRequest,
  callFromMcpContext,
  rememberFrameworkRequest,
  subjectOf,
  type McpCall,
} from '../mcp/call.js';
import { MULTI_ROUND_TRIP_METHODS, nextRound, type ClaimedState } from '../mcp/continuations.js';
import { isTaskRequest } from '../mcp/message-policy.js';
import { linkFrameworkRequests } from './framework-requests.js';
import {
  callDigestOf,
  callKeyOf,
  isDecided,
  markDecided,
  type CarriedCharge,
} from './admitted-calls.js';
import { passOtherContext } from './declarations.js';
import { reportDecision } from './decision-report.js';
import { denialOf, unidentifiedDenial } from './denials.js';
import type { HandlerPlan } from './handler-plan.js';
import { isThenable, whenDecided } from './when-decided.js';
import { rateLimitHeaderValues, setResponseHeader, type HeaderSource } from './headers.js';
import type { McpRateLimitService } from './rate-limit.service.js';
import { ServiceRef } from './service-ref.js';
import { nodeResponseOf, responseOfRequest, SlotHold } from './slot-hold.js';

/**
 * Decides every call of a rate-limited handler, in the `rpc` context of MCP-Nest handlers (tools,
 * resources, prompts: method and target from the MCP request, user and IP from the raw HTTP
 * request, the MCP session on STDIO) and in the `http` context of a controller speaking MCP
 * JSON-RPC (method, id and target from the body or the `Mcp-Method` / `Mcp-Name` headers; the
 * message-level limit of `@LimitMcpMessages()` endpoints). Knows nothing of algorithms: the core
 * engine decides.
 *
 * An admitted HTTP call gets the IETF rate-limit header fields
 * (draft-ietf-httpapi-ratelimit-headers-10), e.g. `RateLimit-Policy: "fw:120:60000";q=120;w=60`
 * and `RateLimit: "fw:120:60000";r=119;t=60`, set here before the handler runs, so they also reach
 * responses the handler writes itself (the MCP transport does), and a response that a later guard
 * rejects (the call was counted). The guard sets them, not an interceptor: an interceptor wraps
 * every call it applies to in an Observable and an AsyncResource, which a server feels end to end.
 * MCP-Nest tool calls have no HTTP response: their headers come from the endpoint's message limit.
 *
 * A denial raises the JSON-RPC error (-32005 unless `errorCode` says otherwise): in the `rpc`
 * context an `RpcException` around the MCP SDK's `ProtocolError` (what MCP-Nest passes to the
 * client as a JSON-RPC error), on HTTP a `RateLimitExceededException` written by
 * {@link McpRateLimitFilter}, which also turns a tool's denial into a tool result when its
 * `toolDenial` is `'result'`.
 *
 * Bound by `@RateLimit()` and `@LimitMcpMessages()` themselves; it may also be bound by
 * `@UseMcpRateLimit()`: each call is decided once, by the first run (see admitted-calls.ts).
 * `registerGlobally` registers global-guard.ts, which leaves these handlers to this bound run.
 *
 * A caller that cannot be identified is denied (or shares one bucket, option `unidentified`). A
 * multi round-trip retry carrying a `requestState` this server issued to the same subject for the
 * same handler is the same logical call: not charged again to the handler's limits (only for a
 * handler declared `multiRoundTrip`).
 */
@Injectable()
export class McpRateLimitGuard implements CanActivate, OnModuleInit {
  constructor(
    moduleRef: ModuleRef,
    @Optional() @Inject(HttpAdapterHost) private readonly adapterHost?: HttpAdapterHost,
  ) {
    this.serviceRef = new ServiceRef(moduleRef, 'McpRateLimitGuard');
  }

  private readonly serviceRef: ServiceRef;

  /** Whether a handler binds the guard too, when this instance runs globally (runsGlobally). */
  private leavesToBoundRun: ((context: ExecutionContext) => boolean) | undefined;

  /**
   * @internal The app registered this instance as a global guard (`{ provide: APP_GUARD, useClass:
   * McpRateLimitGuard }`, as @nestjs/throttler's is). Nest runs global guards in module order,
   * maybe before the app's auth guard, so a decision here would key calls by address before the
   * user is known. Like `registerGlobally`'s guard, it leaves the handlers that bind
   * McpRateLimitGuard (every limited one) to that bound run, after every global guard.
   */
  runsGlobally(boundRun: (context: ExecutionContext) => boolean): void {
    this.leavesToBoundRun = boundRun;
  }

  private get service(): McpRateLimitService {
    return this.serviceRef.get();
  }

  /** Fails bootstrap when the app has no McpRateLimitModule to decide with. */
  onModuleInit(): void {
    this.serviceRef.get();
    linkFrameworkRequests(this.adapterHost);
  }

  /**
   * Synchronous when nothing is limited or every evaluation was (built-in limits on the in-memory
   * store, after bootstrap): Nest then has no promise of this guard's to wait for, which an `async`
   * method would give it for every call, limited or not, at a cost a server feels end to end.
   * Custom limiters, other stores and calls during bootstrap get a promise.
   */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (this.leavesToBoundRun?.(context) === true) return true;
    const service = this.service;
    if (!service.enabled) return true;
    // Bound, not an arrow: a closure here would make every call allocate a context for what it
    // captures, waiting or not (likewise for the other callbacks of this guard).
    if (!service.isReady) return service.whenReady().then(this.check.bind(this, context));
    return this.check(context);
  }

  /**
   * Whether HTTP requests must be linked here to the Node request MCP-Nest hands its handlers: not
   * on Express (its request is the Node request), nor on Fastify (every request is linked as it
   * arrives, framework-requests.ts); on anything else. Known once the HTTP adapter is.
   */
  private get linksFrameworkRequests(): boolean {
    this.linksRequests ??= !SELF_LINKING_ADAPTERS.has(this.adapterHost?.httpAdapter?.getType());
    return this.linksRequests;
  }

  private linksRequests: boolean | undefined;

  private check(context: ExecutionContext): boolean | Promise<boolean> {
    const service = this.service;
    const type = context.getType<string>();
    if (type !== 'rpc' && type !== 'http') return passOtherContext(context, type);
    // Before the plan: the MCP endpoint itself is usually not limited, its tools are.
    if (type === 'http' && this.linksFrameworkRequests) {
      rememberFrameworkRequest(context.switchToHttp().getRequest());
    }
    const plan = service.planFor(context.getClass(), context.getHandler());
    if (plan === undefined) return true;
    const key = callKeyOf(context, type);
    if (isDecided(key)) return true;
    markDecided(key, null);

    const request = type === 'http' ? context.switchToHttp().getRequest<unknown>() : undefined;
    const call =
      type === 'http'
        ? callFromHttpRequest(request)
        : // switchToRpc()'s getContext() and getData(), without the two closures it makes per call.
          callFromMcpContext(context.getArgByIndex(1), context.getArgByIndex(0));
    // The MCP messages of this request the message-level limit counts (0: it does not apply).
    const messageCount =
      type === 'http' && plan.messageLimited ? (service.messagePolicy?.count(request) ?? 0) : 0;
    const subject = subjectOf(call, service.resolveSubjectOption()) ?? service.unidentifiedSubject;
    if (subject === undefined) throw unidentifiedDenial(service, type, plan, call, messageCount);
    // Only an HTTP response with headers on reads the results: don't build them otherwise.
    const evaluated: HeaderSource[] | undefined =
      request !== null && typeof request === 'object' && service.headersEnabled ? [] : undefined;

    if (messageCount > 0) {
      const messageContext = new CallContext(call, subject, messageCount);
      return whenDecided(
        service.evaluateMessages(plan, messageContext, call),
        this.afterMessageDecision.bind(
          this,
          context,
          key,
          type,
          plan,
          call,
          messageContext,
          evaluated,
        ),
      );
    }
    return this.checkHandler(context, key, type, plan, call, subject, evaluated);
  }

  /** What follows the message-level decision: the handler's own limits, if it admitted. */
  private afterMessageDecision(
    context: ExecutionContext,
    key: object | undefined,
    type: 'rpc' | 'http',
    plan: HandlerPlan,
    call: McpCall,
    messageContext: CallContext,
    evaluated: HeaderSource[] | undefined,
    decision: RateLimitDecision,
  ): boolean | Promise<boolean> {
    const { subject, cost } = messageContext;
    reportDecision(this.service, plan, 'message', call, subject, decision, cost);
    if (!decision.allowed) throw denialOf(this.service, type, plan, call, decision, true);
    evaluated?.push({ results: decision.results, messageLevel: true });
    return this.checkHandler(context, key, type, plan, call, subject, evaluated);
  }

  /**
   * Whether the handler's own limits pass this call by (undefined when they do not): a tasks request
   * to a route declared an MCP endpoint (`@LimitMcpMessages()`: its task's tools/call was charged;
   * elsewhere the body's "method" is only the client's word, for retries too), or the retry of a
   * multi round-trip call whose `requestState` this server issued to this subject for this handler
   * (used up here, so a replay is charged), with the charge of the logical call's first round.
   */
  private uncharged(
    type: 'rpc' | 'http',
    plan: HandlerPlan,
    call: McpCall,
    subject: string,
  ): ClaimedState<CarriedCharge> | undefined {
    if (isContinuation(plan, call)) {
      const claimed = this.service.continuations.claim(subject, plan.owner, call.requestState!);
      // Used up either way; a retry of another request than the charged round's (another method,
      // target or arguments), or of none, pays anew.
      const digest = claimed?.carried?.callDigest;
      return digest !== undefined && digest === callDigestOf(call) ? claimed : undefined;
    }
    const poll = type === 'http' && plan.messageLimited && isTaskRequest(call.request);
    return poll ? NOTHING_CARRIED : undefined;
  }

  /**
   * The handler's own limits, after the message-level ones. A method, not a closure per call: an
   * in-memory decision is followed straight away, with no function made for it.
   */
  private checkHandler(
    context: ExecutionContext,
    key: object | undefined,
    type: 'rpc' | 'http',
    plan: HandlerPlan,
    call: McpCall,
    subject: string,
    evaluated: HeaderSource[] | undefined,
  ): boolean | Promise<boolean> {
    const uncharged = plan.limited ? this.uncharged(type, plan, call, subject) : NOTHING_CARRIED;
    if (uncharged !== undefined) {
      if (plan.holdsSlots && isContinuation(plan, call)) {
        return this.continuation(context, key, type, plan, call, subject, evaluated, uncharged);
      }
      if (plan.followsCalls) {
        const round = nextRound(uncharged);
        markDecided(key, {
          followUp: this.service,
          plan,
          subject,
          charge: uncharged.carried,
          round,
        });
      }
      return this.admit(context, evaluated);
    }
    const limitContext = new CallContext(call, subject, plan.costOf(call));
    const decision = this.service.evaluateHandler(plan, limitContext, call);
    if (isThenable(decision)) {
      return Promise.resolve(decision).then(
        this.afterHandlerDecision.bind(
          this,
          context,
          key,
          type,
          plan,
          call,
          limitContext,
          evaluated,
        ),
      );
    }
    return this.afterHandlerDecision(
      context,
      key,
      type,
      plan,
      call,
      limitContext,
      evaluated,
      decision,
    );
  }

  /**
   * The retry of a multi round-trip call, not charged to the handler's rates again: it runs again,
   * so it takes its `ConcurrencyLimit` slots (released by the interceptor). Denied, its
   * `requestState` stays good for the next retry.
   */
  private continuation(
    context: ExecutionContext,
    key: object | undefined,
    type: 'rpc' | 'http',
    plan: HandlerPlan,
    call: McpCall,
    subject: string,
    evaluated: HeaderSource[] | undefined,
    claimed: ClaimedState<CarriedCharge>,
  ): boolean | Promise<boolean> {
    const followUp = this.service;
    // What refundWhen may give back stays the first round's charge.
    const decided = { followUp, plan, subject, charge: claimed.carried, round: nextRound(claimed) };
    const limitContext = new CallContext(call, subject, plan.costOf(call));
    const slots = plan.slotsFor(limitContext);
    if (slots === undefined) {
      markDecided(key, decided);
      return this.admit(context, evaluated);
    }
    const decision = this.service.evaluateHandler(plan, limitContext, call, slots);
    return whenDecided(decision, (settled) => {
      reportDecision(this.service, plan, 'handler', call, subject, settled, 1);
      if (!settled.allowed) {
        const { carried, round: issuedIn } = claimed;
        followUp.continuations.record(subject, plan.owner, call.requestState!, carried, issuedIn);
        throw denialOf(this.service, type, plan, call, settled, false);
      }
      const hold = this.holdSlots(context, type, plan, call, settled);
      markDecided(key, { ...decided, slots: hold });
      return this.admit(context, evaluated);
    });
  }

  /**
   * What follows the handler's decision. Its own method rather than an optional `settled`
   * parameter of checkHandler: folded into one, the guard was slower (bench/guard-time.mjs).
   */
  private afterHandlerDecision(
    context: ExecutionContext,
    key: object | undefined,
    type: 'rpc' | 'http',
    plan: HandlerPlan,
    call: McpCall,
    limitContext: RateLimitContext,
    evaluated: HeaderSource[] | undefined,
    decision: RateLimitDecision,
  ): boolean {
    const subject = limitContext.subject;
    reportDecision(this.service, plan, 'handler', call, subject, decision, 1);
    if (!decision.allowed) throw denialOf(this.service, type, plan, call, decision, false);
    if (plan.followsCalls) {
      const followUp = this.service;
      markDecided(key, {
        followUp,
        plan,
        subject,
        charge: { charged: limitContext, decision },
        slots: plan.holdsSlots ? this.holdSlots(context, type, plan, call, decision) : undefined,
      });
    }
    evaluated?.push({ results: decision.results, messageLevel: false });
    return this.admit(context, evaluated);
  }

  /**
   * The slots an admitted call took, tied to its HTTP response as well as to the interceptor: a
   * call stopped before the interceptor runs (a later guard refuses it, a cache interceptor
   * answers) frees them once answered, and a plain HTTP route keeps them until its response is
   * done (see slot-hold.ts). Only for handlers with a `ConcurrencyLimit`.
   */
  private holdSlots(
    context: ExecutionContext,
    type: 'rpc' | 'http',
    plan: HandlerPlan,
    call: McpCall,
    decision: RateLimitDecision,
  ): SlotHold {
    const response =
      type === 'http'
        ? nodeResponseOf(context.switchToHttp().getResponse())
        : responseOfRequest(call.request);
    return new SlotHold(decision, this.service.logger, plan.owner, response, type === 'http');
  }

  /** Admit the call: set the rate-limit headers of what was evaluated, if any. */
  private admit(context: ExecutionContext, evaluated: HeaderSource[] | undefined): true {
    const values = evaluated === undefined ? undefined : rateLimitHeaderValues(evaluated);
    if (values !== undefined) {
      const response = context.switchToHttp().getResponse<unknown>();
      const adapter = this.adapterHost?.httpAdapter;
      setResponseHeader(adapter, response, 'RateLimit-Policy', values.policy);
      setResponseHeader(adapter, response, 'RateLimit', values.remaining);
    }
    return true;
  }
}

/** HTTP adapters whose requests need no link made by the guard (see `linksFrameworkRequests`). */
const SELF_LINKING_ADAPTERS: ReadonlySet<string | undefined> = new Set(['express', 'fastify']);

/** A call the handler's limits pass by, with no charge carried from an earlier round. */
const NOTHING_CARRIED: ClaimedState<CarriedCharge> = Object.freeze({});

/**
 * Whether the call retries a multi round-trip call, of a handler that declares it continues them.
 * The call's fields are getters that read the MCP request: an undeclared handler reads none.
 */
function isContinuation(plan: HandlerPlan, call: McpCall): boolean {
  if (!plan.multiRoundTrip || call.requestState === undefined) return false;
  return MULTI_ROUND_TRIP_METHODS.has(call.method ?? '');
}

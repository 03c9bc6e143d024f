import { AsyncLocalStorage } from 'node:async_hooks';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleDestroy,
  type OnModuleInit,
  type Type,
} from '@nestjs/common';
import { DiscoveryService, MetadataScanner, ModuleRef } from '@nestjs/core';
import type { RateLimitContext } from '../core/context.js';
import { LimitSet, RateLimitEngine, type RateLimitDecision } from '../core/engine.js';
import { RateLimitConfigError } from '../core/limits.js';
import { CacheManagerStore, isInProcessCache } from '../core/stores/cache-manager-store.js';
import { ResilientStore, withOutagePolicy } from '../core/stores/insurance.js';
import { redisStoreFromCache } from '../core/stores/redis-cache.js';
import { MemoryStore } from '../core/stores/memory-store.js';
import type { RateLimitStore } from '../core/stores/store.js';
import type { McpCall } from '../mcp/call.js';
import { InMemoryContinuations, type ContinuationRegistry } from '../mcp/continuations.js';
import { RATE_LIMITED_CODE } from '../mcp/json-rpc-error.js';
import { MessagePolicy } from '../mcp/message-policy.js';
import { loadRpcSupport } from './rpc-denial.js';
import {
  buildHandlerPlans,
  describePlans,
  appMethods,
  hasRateLimitMetadata,
  type HandlerPlans,
  type NamedFunction,
} from './bootstrap-check.js';
import type { HandlerPlan } from './handler-plan.js';
import { advertiseLimits, prepareLimitsMeta, type LimitsMetas } from './advertised-limits.js';
import { followUpDefaults } from './follow-ups.js';
import { bindFollowingInterceptor } from './interceptor.js';
import type { CarriedCharge } from './admitted-calls.js';
import {
  adminContext,
  adminKeys,
  HandlerDirectory,
  notInitialized,
  type AdminCall,
  type LimitTarget,
} from './handler-directory.js';
import {
  checkStore,
  closeOwnedConnection,
  describeStore,
  findCacheManager,
} from './store-checks.js';
import { checkOptions, type McpRateLimitModuleOptions, type RateLimitEvent } from './options.js';
import { createModuleMetrics, type RateLimitMetrics } from './telemetry.js';
import { callHook } from './decision-hook.js';
import { MCP_RATE_LIMIT_OPTIONS } from './tokens.js';

/** What the current evaluation is about, for store-error events (the store only knows the error). */
interface EvaluationScope {
  readonly scope: 'handler' | 'message';
  readonly plan: HandlerPlan;
  readonly subject: string;
  readonly call: McpCall;
}

/**
 * The module's engine room, shared by the guard and the filter: validated options, the store, the
 * engines (per-handler and message-level, keys apart), every decorated handler's plan, built once.
 */
@Injectable()
export class McpRateLimitService implements OnModuleInit, OnModuleDestroy, OnApplicationShutdown {
  readonly logger = new Logger('McpRateLimit');
  readonly enabled: boolean;
  readonly headersEnabled: boolean;
  readonly httpStatus: 200 | 429;
  /** The JSON-RPC error code of a denial. */
  readonly errorCode: number;
  /** The subject shared by unidentified callers, or undefined when they are denied. */
  readonly unidentifiedSubject: string | undefined;
  /** The `requestState`s issued in `input_required` answers, for the charge-once rule. */
  readonly continuations: ContinuationRegistry<CarriedCharge> = new InMemoryContinuations();
  readonly messagePolicy: MessagePolicy | undefined;
  /** The OpenTelemetry metrics, when on (after bootstrap). */
  metrics: RateLimitMetrics | undefined;
  private readonly options: McpRateLimitModuleOptions;
  private readonly evaluationScope = new AsyncLocalStorage<EvaluationScope>();
  private engine!: RateLimitEngine;
  /**
   * Whether calls run inside `evaluationScope`, so that a store error can name its call. Only when
   * there is a hook or metrics to tell and a store that can fail: an AsyncLocalStorage turns on
   * promise hooks, a cost every promise of the app then pays.
   */
  private scopeCalls = false;
  /** Whether the store is one this service wrapped, whose errors reach `reportStoreError`. */
  private reportsStoreErrors = false;
  private messageEngine: RateLimitEngine | undefined;
  private messageSet: LimitSet | undefined;
  /** @internal Every handler's plan, once bootstrapped (the module checks their guards' order). */
  plans: HandlerPlans = new Map();
  /** The `_meta` objects of this app's MCP-Nest declarations, for `advertiseLimits`. */
  private readonly limitsMetas: LimitsMetas;
  private directory: HandlerDirectory | undefined;
  /** Settles when bootstrap (onModuleInit) is done; see {@link whenReady}. */
  private readonly ready: Promise<void>;
  private markReady!: (error?: unknown) => void;
  /** Whether bootstrap is done. */
  isReady = false;
  /** Handlers already looked up and found to need nothing. */
  private readonly unplanned = new WeakMap<NamedFunction, WeakSet<NamedFunction>>();
  private readonly madeLimiters = new Map<Type<unknown>, Promise<unknown>>();

  constructor(
    @Inject(MCP_RATE_LIMIT_OPTIONS) options: McpRateLimitModuleOptions,
    private readonly moduleRef: ModuleRef,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.markReady = (error) => (error === undefined ? resolve() : reject(error));
    });
    // A failed bootstrap is reported by Nest; the promise must not also be an unhandled rejection.
    this.ready.catch(() => undefined);
    this.options = checkOptions(options ?? {});
    this.enabled = this.options.enabled ?? true;
    this.headersEnabled = this.options.headers ?? true;
    this.httpStatus = this.options.httpStatus ?? 200;
    this.errorCode = this.options.errorCode ?? RATE_LIMITED_CODE;
    this.unidentifiedSubject = this.options.unidentified === 'shared' ? 'unidentified' : undefined;
    const methods = [...appMethods(discovery, scanner)];
    this.limitsMetas = prepareLimitsMeta(methods, this.options.advertiseLimits === true);
    bindFollowingInterceptor(methods, followUpDefaults(this.options));
    const messageLimit = this.options.messageLimit;
    if (messageLimit !== undefined) {
      this.messagePolicy = new MessagePolicy(
        messageLimit.excludedMethods ?? [],
        messageLimit.countedMethods ?? [],
      );
      this.messageSet = new LimitSet(
        messageLimit.limits,
        'messages',
        'McpRateLimitModule "messageLimit.limits"',
      );
    }
  }

  async onModuleInit(): Promise<void> {
    try {
      this.metrics = await createModuleMetrics(this.options.metrics, this.logger);
      const store = this.resolveStore();
      const prefix = this.options.prefix ?? 'mcprl:';
      this.engine = new RateLimitEngine(store, { prefix });
      this.scopeCalls =
        (this.options.onDecision !== undefined || this.metrics !== undefined) &&
        this.reportsStoreErrors;
      // `msg:` right after the prefix keeps message-level keys apart from every handler key,
      // which continue with `{` (the subject's hash tag).
      this.messageEngine = new RateLimitEngine(store, { prefix: `${prefix}msg:` });
      this.plans = await buildHandlerPlans(this.discovery, this.scanner, {
        ...followUpDefaults(this.options),
        resolveProvider: (type) => this.resolveProvider(type),
        messageLimitConfigured: this.messageSet !== undefined,
        toolDenial: this.options.toolDenial ?? 'error',
        metrics: this.metrics,
      });
      if (this.options.advertiseLimits === true) advertiseLimits(this.plans, this.limitsMetas);
      await checkStore(this.plans, store, this.options.store);
      this.directory = new HandlerDirectory(this.plans);
      await loadRpcSupport();
      if (this.enabled) {
        this.logger.log(
          `${describePlans(this.plans)}; store ${describeStore(store)}; message-level limit ${this.messageSet === undefined ? 'off' : 'on'}`,
        );
      } else {
        this.logger.log('rate limits are off (enabled: false)');
      }
      this.isReady = true;
      this.markReady();
    } catch (error) {
      this.markReady(error);
      throw error;
    }
  }

  /** Stops reporting metrics: a provider that outlives the app no longer asks this module. */
  onModuleDestroy(): void {
    this.metrics?.close();
  }

  /** After the app's servers have closed: the `store` option's own connection (see closeOwnedConnection). */
  async onApplicationShutdown(): Promise<void> {
    await closeOwnedConnection(this.options.store);
  }

  /**
   * Resolves once bootstrap is done. A microservice transport may serve calls before the app's
   * init hooks have run (MCP-Nest's STDIO transport starts in `startAllMicroservices()`, before
   * `app.init()`): such calls wait for the limits instead of passing unchecked.
   */
  whenReady(): Promise<void> {
    return this.ready;
  }

  /** The store every limit of this module uses (after bootstrap). */
  get store(): RateLimitStore {
    return this.engine.store;
  }

  /** The plan of a handler, or undefined when no rate-limit decorator concerns it. */
  planFor(type: NamedFunction, handler: NamedFunction): HandlerPlan | undefined {
    const planned = this.plans.get(type)?.get(handler);
    if (planned !== undefined) return planned ?? undefined;
    if (this.unplanned.get(type)?.has(handler)) return undefined;
    return this.planLate(type, handler);
  }

  /**
   * Decide a call against a handler's limits. Never fails because of the store. The decision
   * itself when it was made synchronously (in memory), else a promise of it.
   */
  evaluateHandler(
    plan: HandlerPlan,
    context: RateLimitContext,
    call: McpCall,
    set = plan.setFor(context),
  ): RateLimitDecision | Promise<RateLimitDecision> {
    if (!this.scopeCalls) return this.engine.decide(set, context);
    // Bound, not an arrow: its closure would make every evaluation allocate a context, scoped or not.
    const scope: EvaluationScope = { scope: 'handler', plan, subject: context.subject, call };
    return this.evaluationScope.run(scope, this.engine.decide.bind(this.engine, set, context));
  }

  /** Decide `count` MCP messages against the message-level limit; see {@link evaluateHandler}. */
  evaluateMessages(
    plan: HandlerPlan,
    context: RateLimitContext,
    call: McpCall,
  ): RateLimitDecision | Promise<RateLimitDecision> {
    if (!this.scopeCalls) return this.messageEngine!.decide(this.messageSet!, context);
    const engine = this.messageEngine!;
    const scope: EvaluationScope = { scope: 'message', plan, subject: context.subject, call };
    return this.evaluationScope.run(scope, engine.decide.bind(engine, this.messageSet!, context));
  }

  /**
   * Give back what an admitted call took from the handler's limits (`refundWhen`). Never fails the
   * call: a store that cannot refund leaves the charge, which is never more than was taken.
   */
  refund(plan: HandlerPlan, { charged, decision, set }: CarriedCharge): void {
    this.engine.refund(set ?? plan.setFor(charged), charged, decision).catch((error: unknown) => {
      this.logger.warn(
        `${plan.owner}: the refund failed, the call stays charged: ${error instanceof Error ? error.message : String(error)}`,
      );
    });
  }

  /**
   * What a handler's limits (or the message-level limit) would decide for `subject`'s next call,
   * consuming nothing: `results` has each built-in limit's `remaining`, `quota` and
   * `resetAfterMs`. Custom limiters are not consulted (they cannot be asked without consuming).
   * `call.request` (and `call.args`) choose `limitByContext` choices as a call would (else each
   * choice's fallback), and name the counter of a limit with its own `key` (required then).
   * @example `(await limits.peek({ tool: 'search' }, 'user-42')).results.map((r) => r.remaining)`
   */
  async peek(
    target: LimitTarget,
    subject: string,
    call: AdminCall = {},
  ): Promise<RateLimitDecision> {
    const context = adminContext(target, subject, call);
    const [engine, owner, set] =
      target === 'messages'
        ? [this.messageEngineFor(), 'messageLimit', this.messageSet!]
        : [this.engine, this.findPlan(target).owner, this.findPlan(target).setFor(context)];
    adminKeys('peek', owner, [set], context);
    return engine.peek(set, context);
  }

  /**
   * `subject` starts afresh in every built-in limit of a handler (every `limitByContext` choice)
   * or of the message-level limit, e.g. after a plan upgrade. Limits shared by `namespace` are
   * reset for every handler that shares them. Custom limiters keep their own state. A limit with
   * its own `key` is reset at what that returns for `call.request` (required then).
   */
  async reset(target: LimitTarget, subject: string, call: AdminCall = {}): Promise<void> {
    const context = adminContext(target, subject, call);
    const [engine, owner, sets] =
      target === 'messages'
        ? [this.messageEngineFor(), 'messageLimit', [this.messageSet!]]
        : [this.engine, this.findPlan(target).owner, [...this.findPlan(target).allSets]];
    adminKeys('reset', owner, sets, context); // refuses a keyed limit without its request
    for (const set of sets) await engine.reset(set, context);
  }

  private findPlan(target: Exclude<LimitTarget, 'messages'>): HandlerPlan {
    return (this.directory ?? notInitialized()).find(target);
  }

  private messageEngineFor(): RateLimitEngine {
    if (this.messageSet === undefined) {
      throw new RateLimitConfigError(
        'McpRateLimitService: no message-level limit (module option "messageLimit")',
      );
    }
    return this.messageEngine ?? notInitialized();
  }

  resolveSubjectOption(): ((call: McpCall) => unknown) | undefined {
    return this.options.resolveSubject;
  }

  /** Tell the decision hook, if any; a failing hook never fails the call. */
  emit(event: RateLimitEvent): void {
    const hook = this.options.onDecision;
    if (hook !== undefined) callHook(hook, event, this.logger);
  }

  get hasDecisionHook(): boolean {
    return this.options.onDecision !== undefined;
  }

  private resolveStore(): RateLimitStore {
    const wrap = (store: RateLimitStore): RateLimitStore => {
      // Time the store that does I/O; never an in-memory one (the engine drives it synchronously,
      // which a timing wrapper would hide) nor an outage policy the app built itself.
      const timed =
        this.metrics === undefined ||
        store instanceof MemoryStore ||
        store instanceof ResilientStore
          ? store
          : this.metrics.timeStore(store);
      const wrapped = withOutagePolicy(timed, {
        policy: this.options.onStoreError,
        logger: this.logger,
        reportStoreError: (error) => this.reportStoreError(error),
      });
      // Only a store wrapped here reports its errors to the hook (see scopeCalls).
      this.reportsStoreErrors = wrapped !== timed;
      if (wrapped instanceof ResilientStore) {
        this.metrics?.observeStoreOutage(() => wrapped.degraded);
      }
      return wrapped;
    };
    const explicit = this.options.store;
    if (explicit !== undefined) return wrap(explicit);
    const cache = findCacheManager(this.moduleRef);
    // A cache in this process's memory gets the MemoryStore (see isInProcessCache); one on
    // @keyv/redis the atomic RedisStore over the cache's own client.
    if (cache === undefined || isInProcessCache(cache)) return new MemoryStore();
    return wrap(redisStoreFromCache(cache) ?? new CacheManagerStore(cache));
  }

  private reportStoreError(error: unknown): void {
    const scope = this.evaluationScope.getStore();
    if (scope !== undefined)
      scope.plan.metrics?.[scope.scope]?.record('store-error', scope.call.method);
    if (!this.hasDecisionHook) return;
    this.emit({
      type: 'store-error',
      scope: scope?.scope ?? 'handler',
      handler: scope?.plan.owner ?? 'unknown',
      subject: scope?.subject ?? 'unknown',
      method: scope?.call.method,
      target: scope?.call.target,
      limit: undefined,
      retryAfter: null,
      error,
    });
  }

  private resolveProvider(type: Type<unknown>): Promise<unknown> {
    try {
      return Promise.resolve(this.moduleRef.get(type, { strict: false }));
    } catch {
      // No provider: made once, so that the handlers naming it share it as they would a provider.
      let made = this.madeLimiters.get(type);
      if (made === undefined) this.madeLimiters.set(type, (made = this.moduleRef.create(type)));
      return made;
    }
  }

  /**
   * A handler the bootstrap scan did not see (Nest routes only to classes it knows, so this is
   * rare). Without rate-limit metadata it needs nothing; with some, failing beats not limiting.
   */
  private planLate(type: NamedFunction, handler: NamedFunction): HandlerPlan | undefined {
    if (hasRateLimitMetadata(type, handler)) {
      throw new RateLimitConfigError(
        `${type.name}.${handler.name}: has rate-limit decorators but was not found by the bootstrap scan (is its class registered in a module?)`,
      );
    }
    let seen = this.unplanned.get(type);
    if (seen === undefined) this.unplanned.set(type, (seen = new WeakSet()));
    seen.add(handler);
    return undefined;
  }
}

import {
  describeValue,
  isProtocolLimiter,
  type McpRateLimiter,
  type RateLimitContext,
  type RateLimitVerdict,
} from './context.js';
import { BuiltInRateLimit, RateLimitConfigError } from './limits.js';
import { withOutagePolicy, type OutagePolicyOptions } from './stores/insurance.js';
import { MemoryStore, type KeySpace, type SingleLimitDecider } from './stores/memory-store.js';
import type { LimitCheck, LimitOutcome, RateLimitStore } from './stores/store.js';
import { encodeKeyPart } from './subject.js';

/** Anything `@RateLimit()` or `createRateLimiter()` accepts: a built-in limit or the protocol. */
export type Limiter = BuiltInRateLimit | McpRateLimiter;

/** What one limiter decided. */
export interface LimitResult {
  readonly limiter: Limiter;
  readonly allowed: boolean;
  /** 0 when allowed. */
  readonly retryAfterMs: number;
  /** Units left; undefined when a custom limiter did not say. */
  readonly remaining: number | undefined;
  /** The quota; undefined when a custom limiter did not say. */
  readonly quota: number | undefined;
  readonly resetAfterMs: number | undefined;
}

/** The decision for one call, over all its limits. */
export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Whole seconds to wait before retrying (at least 1), `null` when allowed. The wire value. */
  readonly retryAfter: number | null;
  /** The same in milliseconds, unrounded; 0 when allowed. */
  readonly retryAfterMs: number;
  /** The limiter that denied (the one with the longest wait when several did). */
  readonly deniedBy: Limiter | undefined;
  /** One result per limiter that was consulted, built-in limits first in declared order. */
  readonly results: readonly LimitResult[];
}

// Results and decisions are class instances, not object literals, for the reason AlgorithmStep is:
// same-shaped literals (a field holding null in one, a number in another) kept deprecating each
// other's hidden class in V8, and every later read of them missed (allowed calls ran at half speed
// once denied ones had been seen).

class Result implements LimitResult {
  constructor(
    readonly limiter: Limiter,
    readonly allowed: boolean,
    readonly retryAfterMs: number,
    readonly remaining: number | undefined,
    readonly quota: number | undefined,
    readonly resetAfterMs: number | undefined,
  ) {}
}

class Decision implements RateLimitDecision {
  constructor(
    readonly allowed: boolean,
    readonly retryAfter: number | null,
    readonly retryAfterMs: number,
    readonly deniedBy: Limiter | undefined,
    readonly results: readonly LimitResult[],
  ) {}
}

/** Milliseconds to the seconds of the wire: rounded up, at least 1. */
export function toRetryAfterSeconds(retryAfterMs: number): number {
  // The small slack keeps float noise (3000.0000000001 ms) from adding a whole second.
  return Math.max(1, Math.ceil(retryAfterMs / 1000 - 1e-9));
}

/** How an engine on a MemoryStore evaluates one limit set: a key space per built-in limit. */
interface MemoryPlan {
  readonly engine: RateLimitEngine;
  readonly limits: readonly BuiltInRateLimit[];
  readonly spaces: readonly KeySpace[];
  /** No limit has `key` or `cost` options: each takes the call's subject and cost as they are. */
  readonly plain: boolean;
  /** The store's decider of the one limit, when there is one limit. */
  readonly single: SingleLimitDecider | undefined;
}

/** A built-in limit ready to be keyed: the scope part of its keys is computed once. */
interface PreparedLimit {
  readonly limit: BuiltInRateLimit;
  /** `<encoded scope or namespace><limit id>`: everything of the key after the subject. */
  readonly keySuffix: string;
}

/**
 * The limiters of one handler (or one `createRateLimiter`), validated and sorted once: built-in
 * limits (evaluated together, atomically) and custom ones (in declared order, before them).
 */
export class LimitSet {
  readonly builtIns: readonly PreparedLimit[];
  readonly customs: readonly McpRateLimiter[];
  /**
   * The MemoryStore plan of the last engine that evaluated this set: a field read, where a lookup
   * per call in a WeakMap of the engine was a tenth of an in-memory call.
   * @internal
   */
  memoryPlan: MemoryPlan | undefined = undefined;

  /**
   * @param limiters the limiters, in declared order.
   * @param scope what this set limits (e.g. `tools/call:search`): limits without a namespace get
   *   counters of their own per scope.
   * @param owner named in error messages, e.g. `SearchTools.search`.
   */
  constructor(
    readonly limiters: readonly Limiter[],
    readonly scope: string,
    owner = 'rate limiter',
  ) {
    if (!Array.isArray(limiters)) {
      throw new RateLimitConfigError(`${owner}: limits must be an array of limiters`);
    }
    const builtIns: PreparedLimit[] = [];
    const customs: McpRateLimiter[] = [];
    const seen = new Map<string, number>();
    limiters.forEach((limiter, index) => {
      if (limiter instanceof BuiltInRateLimit) {
        const base = `${limiter.namespace === undefined ? `h${encodeKeyPart(scope)}` : `n${encodeKeyPart(limiter.namespace)}`}${limiter.id}`;
        // The same limit twice on one handler would otherwise share (and double-count) one key.
        const occurrence = seen.get(base) ?? 0;
        seen.set(base, occurrence + 1);
        builtIns.push({
          limit: limiter,
          keySuffix: occurrence === 0 ? base : `${base}#${occurrence}`,
        });
      } else if (isProtocolLimiter(limiter)) {
        customs.push(limiter);
      } else {
        throw new RateLimitConfigError(
          `${owner}: limit #${index + 1} is neither a built-in limit nor an object with consume(context) (got ${describeValue(limiter)})`,
        );
      }
    });
    this.builtIns = builtIns;
    this.customs = customs;
  }
}

export interface RateLimitEngineOptions {
  /** Prefix of every storage key (default `mcprl:`). */
  readonly prefix?: string;
}

/**
 * Decides calls: custom limiters first (declared order, stop at the first denial), then every
 * built-in limit in one atomic store step (all admit and commit, or none commits). A denial anywhere
 * refunds the custom limiters that had admitted, so a denied call consumes no quota.
 */
export class RateLimitEngine {
  readonly prefix: string;
  /** The store when it is a MemoryStore, which the engine drives synchronously (a fast path). */
  private readonly memory: MemoryStore | undefined;

  constructor(
    readonly store: RateLimitStore,
    options: RateLimitEngineOptions = {},
  ) {
    this.prefix = options.prefix ?? 'mcprl:';
    this.memory = store instanceof MemoryStore ? store : undefined;
  }

  evaluate(set: LimitSet, context: RateLimitContext): Promise<RateLimitDecision> {
    try {
      return Promise.resolve(this.decide(set, context));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * `evaluate`, but the decision itself (not a promise of it) when it was made synchronously:
   * built-in limits alone on a MemoryStore, decided in one step without the awaits and the storage
   * keys of `store.evaluate` (whose step is synchronous too). Custom limiters and other stores give
   * a promise. The guard uses it so that an in-memory check makes Nest await nothing.
   * @throws what `evaluate` would reject with, when the decision is synchronous.
   */
  decide(set: LimitSet, context: RateLimitContext): RateLimitDecision | Promise<RateLimitDecision> {
    const plan = this.memoryPlanOf(set);
    if (plan === undefined) return this.evaluateThroughStore(set, context);
    const memory = this.memory as MemoryStore;
    const first = plan.limits[0];
    if (plan.limits.length === 1) {
      return decideSubjectInMemory(memory, plan, subjectOf(first, context), first.costOf(context));
    }
    if (plan.plain && context.cost === 1) {
      return decideSubjectInMemory(memory, plan, subjectOf(first, context), 1);
    }
    return decideEachInMemory(memory, plan, context);
  }

  /**
   * `evaluate` of a call of cost 1 that has only a subject (createRateLimiter's usual call). When
   * no limit reads the context (no custom limiter, no `key` or `cost` option) and the store is a
   * MemoryStore, no context object is made: a fifth of such a call went to making it.
   */
  evaluateSubject(set: LimitSet, subject: string): Promise<RateLimitDecision> {
    try {
      const plan = this.memoryPlanOf(set);
      if (plan === undefined || !plan.plain || typeof subject !== 'string') {
        return this.evaluate(set, { subject, cost: 1 });
      }
      return Promise.resolve(decideSubjectInMemory(this.memory as MemoryStore, plan, subject, 1));
    } catch (error) {
      // A clock given to the MemoryStore may throw: a rejection, as from evaluate.
      return Promise.reject(error);
    }
  }

  /**
   * {@link evaluateSubject} of `set`, made ahead, when its calls need no context (no custom
   * limiter, no `key` or `cost` option) and a MemoryStore decides them (createRateLimiter's usual
   * call): no plan checks per call, and code small enough that V8 inlines all of it into the
   * caller. Undefined otherwise.
   * @internal used by createRateLimiter.
   */
  subjectEvaluatorOf(set: LimitSet): ((subject: string) => Promise<RateLimitDecision>) | undefined {
    const plan = this.memoryPlanOf(set);
    if (plan === undefined || !plan.plain) return undefined;
    const decide = plan.single;
    if (decide === undefined) return plainEvaluator(this.memory as MemoryStore, plan);
    const limit = plan.limits[0];
    return (subject) => {
      try {
        return Promise.resolve(decisionOfOne(limit, decide(subject, 1), 1));
      } catch (error) {
        // A clock given to the MemoryStore may throw: a rejection, as from evaluate.
        return Promise.reject(error);
      }
    };
  }

  /** The in-memory plan of `set`, or undefined when it takes the general path. */
  private memoryPlanOf(set: LimitSet): MemoryPlan | undefined {
    const plan = set.memoryPlan;
    if (plan !== undefined && plan.engine === this) return plan;
    if (this.memory === undefined || set.customs.length !== 0 || set.builtIns.length === 0) {
      return undefined;
    }
    return this.planFor(set);
  }

  private planFor(set: LimitSet): MemoryPlan {
    const memory = this.memory as MemoryStore;
    const limits = set.builtIns.map(({ limit }) => limit);
    // The storage key without its subject part names the space, so limits that share keys share
    // spaces (a namespace across handlers).
    const spaces = set.builtIns.map(({ limit, keySuffix }) =>
      memory.keySpace(`${this.prefix}${keySuffix}`, limit),
    );
    const plan: MemoryPlan = {
      engine: this,
      limits,
      spaces,
      plain: limits.every((limit) => limit.key === undefined && limit.cost === undefined),
      single: limits.length === 1 ? memory.singleLimitDecider(spaces[0], limits[0]) : undefined,
    };
    set.memoryPlan = plan;
    return plan;
  }

  private async evaluateThroughStore(
    set: LimitSet,
    context: RateLimitContext,
  ): Promise<RateLimitDecision> {
    const customResults: LimitResult[] = [];
    for (let index = 0; index < set.customs.length; index++) {
      const limiter = set.customs[index];
      const result = toLimitResult(limiter, await limiter.consume(context));
      customResults.push(result);
      if (!result.allowed) {
        await refund(set.customs, index, context);
        return denial(customResults, result);
      }
    }
    if (set.builtIns.length === 0) return allowed(customResults);

    const checks: LimitCheck[] = set.builtIns.map(({ limit, keySuffix }) => ({
      key: this.keyOf(limit, keySuffix, context),
      limit,
      cost: limit.costOf(context),
    }));
    const outcomes = await this.store.evaluate(checks);
    let callAllowed = true;
    for (const outcome of outcomes) if (!outcome.allowed) callAllowed = false;
    const results: LimitResult[] = outcomes.map((outcome, index) =>
      builtInResult(set.builtIns[index].limit, outcome, callAllowed ? 0 : checks[index].cost),
    );
    for (const result of customResults) results.push(result);
    if (callAllowed) return allowed(results);

    await refund(set.customs, set.customs.length, context);
    return denial(results, longestWait(results));
  }

  /**
   * Gives back what an admitted call with this context took: `store.refund` of every built-in
   * limit, then `refund(context)` of every custom limiter. TEMP on the nest branch (the core
   * helper's version replaces it).
   */
  async refund(set: LimitSet, context: RateLimitContext): Promise<void> {
    if (set.builtIns.length > 0) {
      const checks: LimitCheck[] = set.builtIns.map(({ limit, keySuffix }) => ({
        key: this.keyOf(limit, keySuffix, context),
        limit,
        cost: limit.costOf(context),
      }));
      await this.store.refund?.(checks);
    }
    for (const limiter of set.customs) await limiter.refund?.(context);
  }

  private keyOf(limit: BuiltInRateLimit, keySuffix: string, context: RateLimitContext): string {
    return `${this.prefix}{${encodeKeyPart(subjectOf(limit, context))}}${keySuffix}`;
  }
}

// The in-memory fast path is small on purpose: V8 inlines it whole only while it fits its budget.

/**
 * A call by one subject at one cost against every limit of a plan: one limit, or several that
 * all take the call's subject and cost (a plain plan at the cost of 1, valid for every limit).
 */
function decideSubjectInMemory(
  memory: MemoryStore,
  plan: MemoryPlan,
  subject: string,
  cost: number,
): RateLimitDecision {
  const limits = plan.limits;
  if (plan.single !== undefined) return decisionOfOne(limits[0], plan.single(subject, cost), cost);
  // No arrays per call for the usual case of several limits.
  return memory.evaluatePlainNow(plan.spaces, limits, subject, cost)
    ? new AdmittedInMemory(limits, memory.lastOutputs)
    : deniedInMemory(limits, memory.lastOutputs, cost);
}

/** The decision of a call of one limit at `cost`, from what the limit decided. */
function decisionOfOne(
  limit: BuiltInRateLimit,
  output: LimitOutcome,
  cost: number,
): RateLimitDecision {
  return output.allowed
    ? new AdmittedOneInMemory(limit, output.remaining, output.resetAfterMs)
    : deniedInMemory([limit], [output], cost);
}

/**
 * {@link RateLimitEngine.subjectEvaluatorOf} for several plain limits: a function of its own, so
 * that the one-limit evaluator stays small enough for V8 to inline whole. It repeats the last lines
 * of decideSubjectInMemory on purpose: a helper shared by the two measured about 200 more
 * instructions per two-limit call (valgrind), V8's inlining budget running out again.
 */
function plainEvaluator(
  memory: MemoryStore,
  plan: MemoryPlan,
): (subject: string) => Promise<RateLimitDecision> {
  const { limits, spaces } = plan;
  return (subject) => {
    try {
      return Promise.resolve(
        memory.evaluatePlainNow(spaces, limits, subject, 1)
          ? new AdmittedInMemory(limits, memory.lastOutputs)
          : deniedInMemory(limits, memory.lastOutputs, 1),
      );
    } catch (error) {
      // A clock given to the MemoryStore may throw: a rejection, as from evaluate.
      return Promise.reject(error);
    }
  };
}

/** A call against several limits, each with its own subject and cost (`key` or `cost` options). */
function decideEachInMemory(
  memory: MemoryStore,
  plan: MemoryPlan,
  context: RateLimitContext,
): RateLimitDecision {
  const limits = plan.limits;
  const subjects: string[] = [];
  const costs: number[] = [];
  for (const limit of limits) {
    subjects.push(subjectOf(limit, context));
    costs.push(limit.costOf(context));
  }
  if (memory.evaluateSubjectsNow(plan.spaces, limits, subjects, costs)) {
    return new AdmittedInMemory(limits, memory.lastOutputs);
  }
  return deniedInMemory(limits, memory.lastOutputs, costs);
}

/** The decision of a call of several limits that was denied as a whole: nothing was committed. */
function deniedInMemory(
  limits: readonly BuiltInRateLimit[],
  outputs: readonly LimitOutcome[],
  costs: number | readonly number[],
): RateLimitDecision {
  const results = limits.map((limit, index) =>
    builtInResult(limit, outputs[index], typeof costs === 'number' ? costs : costs[index]),
  );
  return denial(results, longestWait(results));
}

const NO_NUMBERS: readonly number[] = [];

/**
 * An in-memory decision that admitted a call of several limits. Its results are built when first
 * read: callers that read only `allowed` (most of createRateLimiter's) then skip an object per
 * limit, which was a fifth of the time of an in-memory call. The numbers of the first two limits
 * are fields, not an array (an array per call was a tenth of a two-limit call). Serialised to JSON
 * like the other decisions. Fields are set once, as in {@link AdmittedOneInMemory}.
 */
class AdmittedInMemory implements RateLimitDecision {
  declare readonly allowed: true;
  declare readonly retryAfter: null;
  declare readonly retryAfterMs: 0;
  declare readonly deniedBy: undefined;
  declare private readonly limits: readonly BuiltInRateLimit[];
  // Copied: the store reuses its outputs.
  declare private readonly remaining0: number;
  declare private readonly resetAfterMs0: number;
  declare private readonly remaining1: number;
  declare private readonly resetAfterMs1: number;
  /** From the third limit on: its remaining, then its resetAfterMs. */
  declare private readonly more: readonly number[];
  declare private cachedResults: readonly LimitResult[] | undefined;

  /** @param outputs what each limit decided (two or more). */
  constructor(limits: readonly BuiltInRateLimit[], outputs: readonly LimitOutcome[]) {
    this.allowed = true;
    this.retryAfter = null;
    this.retryAfterMs = 0;
    this.deniedBy = undefined;
    this.limits = limits;
    this.remaining0 = outputs[0].remaining;
    this.resetAfterMs0 = outputs[0].resetAfterMs;
    this.remaining1 = outputs[1].remaining;
    this.resetAfterMs1 = outputs[1].resetAfterMs;
    let more = NO_NUMBERS; // no array per call for the usual two limits
    if (limits.length > 2) {
      const numbers: number[] = [];
      for (let index = 2; index < limits.length; index++) {
        numbers.push(outputs[index].remaining, outputs[index].resetAfterMs);
      }
      more = numbers;
    }
    this.more = more;
    this.cachedResults = undefined;
  }

  get results(): readonly LimitResult[] {
    this.cachedResults ??= this.limits.map((limit, index) => {
      let remaining: number;
      let resetAfterMs: number;
      if (index === 0) {
        remaining = this.remaining0;
        resetAfterMs = this.resetAfterMs0;
      } else if (index === 1) {
        remaining = this.remaining1;
        resetAfterMs = this.resetAfterMs1;
      } else {
        remaining = this.more[2 * (index - 2)];
        resetAfterMs = this.more[2 * (index - 2) + 1];
      }
      return new Result(limit, true, 0, remaining, limit.policy.quota, resetAfterMs);
    });
    return this.cachedResults;
  }

  toJSON(): RateLimitDecision {
    return new Decision(true, null, 0, undefined, this.results);
  }
}

/**
 * {@link AdmittedInMemory} for a call of one limit. Every field is set once, in the constructor:
 * they are `declare`d, so no class field initialiser defines them first, and not `#private`, whose
 * fields always are (measured: 3 % of the instructions of a whole single-limit call).
 */
class AdmittedOneInMemory implements RateLimitDecision {
  declare readonly allowed: true;
  declare readonly retryAfter: null;
  declare readonly retryAfterMs: 0;
  declare readonly deniedBy: undefined;
  declare private readonly limit: BuiltInRateLimit;
  declare private readonly remaining: number;
  declare private readonly resetAfterMs: number;
  declare private cachedResults: readonly LimitResult[] | undefined;

  constructor(limit: BuiltInRateLimit, remaining: number, resetAfterMs: number) {
    this.allowed = true;
    this.retryAfter = null;
    this.retryAfterMs = 0;
    this.deniedBy = undefined;
    this.limit = limit;
    this.remaining = remaining;
    this.resetAfterMs = resetAfterMs;
    this.cachedResults = undefined;
  }

  get results(): readonly LimitResult[] {
    const limit = this.limit;
    this.cachedResults ??= [
      new Result(limit, true, 0, this.remaining, limit.policy.quota, this.resetAfterMs),
    ];
    return this.cachedResults;
  }

  toJSON(): RateLimitDecision {
    return new Decision(true, null, 0, undefined, this.results);
  }
}

/** The subject a limit is keyed by: the call's, or what its `key(context)` says. */
function subjectOf(limit: BuiltInRateLimit, context: RateLimitContext): string {
  const subject = limit.key === undefined ? context.subject : limit.key(context);
  if (typeof subject !== 'string') throw keyTypeError(limit, subject);
  return subject;
}

function keyTypeError(limit: BuiltInRateLimit, subject: unknown): TypeError {
  return new TypeError(
    `${limit.describe()}: key(context) must return a string (got ${typeof subject})`,
  );
}

/** The denying result with the longest wait (the first of them on a tie). */
function longestWait(results: readonly LimitResult[]): LimitResult {
  let longest = results[0];
  for (const result of results) {
    if (!result.allowed && (longest.allowed || result.retryAfterMs > longest.retryAfterMs)) {
      longest = result;
    }
  }
  return longest;
}

/**
 * @param uncommittedCost when the call as a whole was denied, nothing was committed: a limit that
 *   admitted it on its own reported `remaining` after this call's cost, so give that back.
 */
function builtInResult(
  limit: BuiltInRateLimit,
  outcome: LimitOutcome,
  uncommittedCost: number,
): LimitResult {
  const remaining =
    outcome.allowed && uncommittedCost > 0
      ? Math.min(limit.policy.quota, Math.floor(outcome.remaining + uncommittedCost))
      : outcome.remaining;
  return new Result(
    limit,
    outcome.allowed,
    outcome.retryAfterMs,
    remaining,
    limit.policy.quota,
    outcome.resetAfterMs,
  );
}

function toLimitResult(limiter: McpRateLimiter, verdict: RateLimitVerdict): LimitResult {
  const retryAfter = typeof verdict === 'object' && verdict !== null ? verdict.retryAfter : verdict;
  if (
    retryAfter !== null &&
    !(typeof retryAfter === 'number' && retryAfter >= 0 && Number.isFinite(retryAfter))
  ) {
    // A limiter that answers garbage must not let the call through by accident.
    throw new TypeError(
      `${describeValue(limiter)}: consume() must return seconds to wait (a non-negative number), null to allow, or { retryAfter } (got ${String(retryAfter)})`,
    );
  }
  const rich = typeof verdict === 'object' && verdict !== null ? verdict : undefined;
  return new Result(
    limiter,
    retryAfter === null, // allowed
    retryAfter === null ? 0 : retryAfter * 1000, // retryAfterMs
    rich?.remaining,
    rich?.limit, // quota
    rich?.resetAfter === undefined ? undefined : rich.resetAfter * 1000, // resetAfterMs
  );
}

async function refund(
  customs: readonly McpRateLimiter[],
  admittedCount: number,
  context: RateLimitContext,
): Promise<void> {
  for (let index = 0; index < admittedCount; index++) await customs[index].refund?.(context);
}

function allowed(results: readonly LimitResult[]): RateLimitDecision {
  return new Decision(true, null, 0, undefined, results);
}

function denial(results: readonly LimitResult[], denying: LimitResult): RateLimitDecision {
  return new Decision(
    false,
    toRetryAfterSeconds(denying.retryAfterMs), // retryAfter
    denying.retryAfterMs,
    denying.limiter, // deniedBy
    results,
  );
}

/** Options of `createRateLimiter`. */
export interface CreateRateLimiterOptions extends Omit<OutagePolicyOptions, 'policy'> {
  /** The limits every call must pass (AND-combined). */
  readonly limits: readonly Limiter[];
  /** Where state lives (default: a new MemoryStore). */
  readonly store?: RateLimitStore;
  /** What to do while the store cannot answer (default `insurance`). */
  readonly onStoreError?: OutagePolicyOptions['policy'];
  /** Name of what is limited: limits without a namespace get their own counters per name. */
  readonly name?: string;
  /** Prefix of every storage key (default `mcprl:`). */
  readonly prefix?: string;
}

/** A rate limiter for work outside a Nest handler: a queue consumer, a service method. */
export interface RateLimiter {
  /** Decide (and, when allowed, count) one call of `subject`. */
  consume(
    subject: string,
    options?: { readonly cost?: number; readonly context?: Partial<RateLimitContext> },
  ): Promise<RateLimitDecision>;
  readonly engine: RateLimitEngine;
}

/**
 * Create a rate limiter from limits and a store. The Nest guard uses the same engine.
 *
 * @example
 * const limiter = createRateLimiter({ limits: [new FixedWindowRateLimit({ maxCalls: 10, perSeconds: 60 })] });
 * const decision = await limiter.consume(`user:${userId}`);
 * if (!decision.allowed) throw new Error(`retry in ${decision.retryAfter}s`);
 */
export function createRateLimiter(options: CreateRateLimiterOptions): RateLimiter {
  const { limits, store, onStoreError, name, prefix, ...outage } = options;
  const set = new LimitSet(limits, name ?? 'default', 'createRateLimiter');
  if (set.limiters.length === 0)
    throw new RateLimitConfigError('createRateLimiter: "limits" must not be empty');
  const resolvedStore = withOutagePolicy(store ?? new MemoryStore(), {
    ...outage,
    policy: onStoreError,
  });
  const engine = new RateLimitEngine(resolvedStore, { prefix });
  const evaluateSubject = engine.subjectEvaluatorOf(set);
  return {
    engine,
    consume(subject, callOptions) {
      if (callOptions === undefined) {
        return evaluateSubject !== undefined && typeof subject === 'string'
          ? evaluateSubject(subject)
          : engine.evaluateSubject(set, subject);
      }
      const context: RateLimitContext = {
        ...callOptions.context,
        subject,
        cost: callOptions.cost ?? 1,
      };
      return engine.evaluate(set, context);
    },
  };
}

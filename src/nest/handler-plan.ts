import type { RateLimitContext } from '../core/context.js';
import type { LimitSet } from '../core/engine.js';
import { RateLimitConfigError } from '../core/limits.js';
import type { McpCall } from '../mcp/call.js';
import type { AnswerForm } from '../mcp/continuations.js';
import type { ContextualLimit } from './contextual-limit.js';
import type { CallOutcome, RateLimitCostSpec, ToolDenial } from './options.js';
import type { DecisionScope, HandlerMetrics } from './telemetry.js';

/** Where a handler's decisions are counted, per scope (OpenTelemetry metrics, when on). */
export type PlanMetrics = Readonly<Record<DecisionScope, HandlerMetrics | undefined>>;

/** What kind of handler a plan is for: an MCP-Nest tool, resource or prompt, or another route. */
export type HandlerKind = 'tool' | 'resource' | 'prompt' | 'route';

/** A plan's limits and behaviour, as bootstrap works them out. */
export interface HandlerPlanSpec {
  /** `Class.method`, named in errors and events. */
  readonly owner: string;
  readonly kind: HandlerKind;
  /** Every set of this handler, by the names of its choices (`''` without choices). */
  readonly sets: ReadonlyMap<string, LimitSet>;
  readonly contextual: readonly ContextualLimit[];
  readonly cost: RateLimitCostSpec | undefined;
  /** Whether the handler has limits to check (false when skipped or undecorated). */
  readonly limited: boolean;
  /** Whether `@LimitMcpMessages()` applies. */
  readonly messageLimited: boolean;
  /** How a denied tools/call is answered (handler option, else the module's). */
  readonly toolDenial: ToolDenial;
  /** When to give an admitted call's quota back (handler option, else the module's). */
  readonly refundWhen: ((outcome: CallOutcome) => boolean) | undefined;
  /** Where its decisions are counted; undefined when metrics are off. */
  readonly metrics?: PlanMetrics;
  /** Whether an admitted tool result carries the caller's quota (`advertiseLimits`). */
  readonly reportsQuota?: boolean;
  /** Whether the interceptor follows its admitted calls (follow-ups.ts). */
  readonly followsCalls?: boolean;
  /** Whether it declares that it continues multi round-trip calls (`multiRoundTrip`). */
  readonly multiRoundTrip?: boolean;
}

/**
 * Everything the guard and the interceptor need about one handler, built and validated once at
 * bootstrap (bootstrap-check.ts): its limits (one `LimitSet`, or one per combination of
 * `limitByContext` choices), its cost, whether its endpoint counts MCP messages, and how its
 * denials and failures are answered.
 */
export class HandlerPlan {
  readonly owner: string;
  readonly kind: HandlerKind;
  readonly limited: boolean;
  readonly messageLimited: boolean;
  /** Whether a denied tools/call is answered as a tool result. */
  readonly deniesAsResult: boolean;
  /**
   * How its answers reach the client as MCP answers (continuations.ts); undefined on a route that
   * is not a declared MCP endpoint (`@LimitMcpMessages()`): what it answers is not MCP's, so it
   * issues no `requestState` and none of its calls continues a multi round-trip call, whatever
   * its body says.
   */
  readonly answers: AnswerForm | undefined;
  /**
   * Whether it continues multi round-trip calls: declared (`multiRoundTrip`; refused where it
   * answers no MCP) and limited. Only then is an `input_required` answer's `requestState` recorded, and a retry
   * carrying one charged once; otherwise every round is a new call.
   */
  readonly multiRoundTrip: boolean;
  readonly refundWhen: ((outcome: CallOutcome) => boolean) | undefined;
  /**
   * Whether the interceptor follows an admitted call to its end (bound where a call's end matters:
   * an `input_required` answer to record, a refund, a quota to report; see follow-ups.ts).
   */
  readonly followsCalls: boolean;
  /**
   * Whether an admitted call holds `ConcurrencyLimit` slots, which the interceptor releases when
   * the call ends: only such handlers pay for following the call to its very end.
   */
  readonly holdsSlots: boolean;
  /** Where its decisions are counted; undefined when metrics are off. */
  readonly metrics: PlanMetrics | undefined;
  /** Whether an admitted tool result carries the caller's quota (`advertiseLimits`). */
  readonly reportsQuota: boolean;
  private readonly sets: ReadonlyMap<string, LimitSet>;
  private readonly contextual: readonly ContextualLimit[];
  private readonly cost: RateLimitCostSpec | undefined;
  /** The set of a handler without `limitByContext` choices: read per call, not looked up. */
  private readonly unconditionalSet: LimitSet | undefined;

  constructor(spec: HandlerPlanSpec) {
    this.owner = spec.owner;
    this.kind = spec.kind;
    this.sets = spec.sets;
    this.contextual = spec.contextual;
    this.cost = spec.cost;
    this.limited = spec.limited;
    this.messageLimited = spec.messageLimited;
    this.deniesAsResult = spec.kind === 'tool' && spec.toolDenial === 'result';
    this.answers = answerFormOf(spec.kind, spec.messageLimited);
    if (spec.multiRoundTrip === true && this.answers === undefined) {
      throw new RateLimitConfigError(
        `${spec.owner}: @RateLimitOptions({ multiRoundTrip: true }) is on a route that is not an MCP endpoint: it answers no MCP, so it has no multi round-trip call to continue. Fix: mark the endpoint @LimitMcpMessages(), or remove the option`,
      );
    }
    this.multiRoundTrip = spec.limited && spec.multiRoundTrip === true;
    this.refundWhen = spec.refundWhen;
    this.holdsSlots = spec.limited && [...spec.sets.values()].some((set) => set.holdsSlots);
    this.followsCalls = spec.limited && (spec.followsCalls === true || this.holdsSlots);
    this.metrics = spec.metrics;
    this.reportsQuota = spec.kind === 'tool' && spec.reportsQuota === true;
    this.unconditionalSet = spec.contextual.length === 0 ? spec.sets.get('') : undefined;
  }

  /**
   * The `ConcurrencyLimit`s of this call's limits alone: what the retry of a multi round-trip call
   * takes (it is not charged to the rates again, but it runs again). Undefined: it holds no slots.
   */
  slotsFor(context: RateLimitContext): LimitSet | undefined {
    return this.setFor(context).slotsOnly();
  }

  /** Every set of this handler: one, or one per combination of `limitByContext` choices. */
  get allSets(): Iterable<LimitSet> {
    return this.sets.values();
  }

  /** Whether a refund of this handler's calls needs the store (it has built-in limits). */
  get refundsThroughStore(): boolean {
    for (const set of this.sets.values()) if (set.builtIns.length > 0) return true;
    return false;
  }

  /** The call's cost: validated, so a bad cost function fails the call instead of admitting it. */
  costOf(call: McpCall): number {
    const spec = this.cost;
    if (spec === undefined) return 1;
    const cost = typeof spec === 'number' ? spec : spec(call.args, call);
    if (typeof cost !== 'number' || !Number.isFinite(cost) || cost < 0) {
      throw new RateLimitConfigError(
        `${this.owner}: @RateLimitCost() must give a non-negative finite number (got ${String(cost)})`,
      );
    }
    return cost;
  }

  /** The limits of this call: with `limitByContext` choices, the set of the chosen ones. */
  setFor(context: RateLimitContext): LimitSet {
    return this.unconditionalSet ?? this.chosenSet(context);
  }

  /**
   * The set of the `limitByContext` choices of this call. Apart from setFor: its closure would make
   * every call of setFor allocate a context for `context`, choices or not.
   */
  private chosenSet(context: RateLimitContext): LimitSet {
    const names = this.contextual.map((choice) => chooseName(choice, context));
    return this.sets.get(names.join('\u0000'))!;
  }
}

/** How a handler of `kind` answers MCP (see {@link HandlerPlan.answers}). */
function answerFormOf(kind: HandlerKind, messageLimited: boolean): AnswerForm | undefined {
  if (kind === 'tool') return 'tool';
  if (kind === 'route') return messageLimited ? 'json-rpc' : undefined;
  return 'result';
}

function chooseName(choice: ContextualLimit, context: RateLimitContext): string {
  const fallback = choice.fallback ?? Object.keys(choice.choices)[0];
  try {
    const name = choice.select(context);
    return typeof name === 'string' && Object.prototype.hasOwnProperty.call(choice.choices, name)
      ? name
      : fallback;
  } catch {
    return fallback;
  }
}

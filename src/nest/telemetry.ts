import type { LimitCheck, LimitOutcome, RateLimitStore } from '../core/stores/store.js';
import { CLIENT_REQUEST_METHODS } from '../mcp/methods.js';
import { observeShared } from './shared-observation.js';

// OpenTelemetry metrics of the module, recorded through `@opentelemetry/api` when the app has it
// and a meter provider is registered; otherwise nothing exists and nothing is paid.
//
// Names follow the OpenTelemetry semantic-convention style: a namespace of our own
// (`mcp_rate_limit`, not `mcp.`, which belongs to the MCP conventions), singular namespaces, a
// plural name only for a count of discrete things, UCUM units, durations in seconds. The one
// attribute borrowed from the conventions is `mcp.method.name`. The subject (user, IP, session) is
// never an attribute: it would make one time series per user and send identities to the metrics
// backend.

/** Name of the counter of rate-limit decisions. */
export const DECISIONS_METRIC = 'mcp_rate_limit.decisions';
/** Name of the histogram of store call durations, in seconds. */
export const STORE_DURATION_METRIC = 'mcp_rate_limit.store.duration';
/** Name of the gauge that is 1 while the store is in outage, 0 otherwise. */
export const STORE_OUTAGE_METRIC = 'mcp_rate_limit.store.outage';

/** Attribute keys of the decision counter and the store histogram. */
export const METRIC_ATTRIBUTES = {
  outcome: 'mcp_rate_limit.outcome',
  handler: 'mcp_rate_limit.handler',
  scope: 'mcp_rate_limit.scope',
  method: 'mcp.method.name',
  operation: 'mcp_rate_limit.store.operation',
  errorType: 'error.type',
} as const;

/**
 * What a decision came to, as the `onDecision` hook names it. `store-error` is a failed store
 * call; the outage policy then decides, and that decision is counted as `allowed` or `denied`.
 */
export type DecisionOutcome = 'allowed' | 'denied' | 'store-error';

/** Which limits decided: the handler's own, or the endpoint's message-level limit. */
export type DecisionScope = 'handler' | 'message';

/** The store calls that are timed. */
export type StoreOperation = 'evaluate' | 'peek' | 'refund' | 'reset';

// The few parts of the OpenTelemetry metrics API this module uses, written out so that the
// package's types do not need `@opentelemetry/api` (an optional peer). Its `MeterProvider` fits.
type MetricAttributes = Readonly<Record<string, string>>;

interface InstrumentOptions {
  readonly description?: string;
  readonly unit?: string;
  readonly advice?: { readonly explicitBucketBoundaries?: number[] };
}

interface ObservableResultLike {
  observe(value: number, attributes?: MetricAttributes): void;
}

interface ObservableLike {
  addCallback(callback: (result: ObservableResultLike) => void): void;
  removeCallback(callback: (result: ObservableResultLike) => void): void;
}

interface MeterLike {
  createObservableCounter(name: string, options?: InstrumentOptions): ObservableLike;
  createHistogram(
    name: string,
    options?: InstrumentOptions,
  ): { record(value: number, attributes?: MetricAttributes): void };
  createObservableGauge(name: string, options?: InstrumentOptions): ObservableLike;
}

/** An OpenTelemetry `MeterProvider` (from `@opentelemetry/api` or `@opentelemetry/sdk-metrics`). */
export interface MeterProviderLike {
  getMeter(name: string, version?: string): MeterLike;
}

/** Options of {@link RateLimitMetrics.create}. */
export interface RateLimitMetricsOptions {
  /**
   * The provider to record with. Default: the global one registered with `@opentelemetry/api`
   * (by the OpenTelemetry SDK), looked up once at bootstrap.
   */
  readonly meterProvider?: MeterProviderLike;
}

const METER_NAME = 'nestjs-mcp-rate-limit';

const OTHER = '_OTHER';
const NO_METHOD = '';

/**
 * Store call durations span a loopback Redis (a tenth of a millisecond) to a call that runs into
 * its timeout (seconds); the SDK's default buckets (0 to 10 000) suit milliseconds, not seconds.
 */
const STORE_DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** Longest `error.type` recorded; anything longer is a message, not a type, and becomes `_OTHER`. */
const MAX_ERROR_TYPE_LENGTH = 64;

/** The decisions of one handler, scope and method: a running total per outcome. */
interface DecisionSeries {
  readonly attributes: Readonly<Record<DecisionOutcome, MetricAttributes>>;
  readonly totals: Record<DecisionOutcome, number>;
}

const OUTCOMES: readonly DecisionOutcome[] = ['allowed', 'denied', 'store-error'];

/**
 * Records the decisions of one handler in one scope. Made once per handler (see
 * {@link RateLimitMetrics.forHandler}). Recording adds to a running total of this object; the
 * totals reach OpenTelemetry when its reader collects (an observable counter): a counter's `add`
 * in the SDK hashes its attributes on every call, a cost every limited call would pay.
 */
export class HandlerMetrics {
  private readonly byMethod = new Map<string, DecisionSeries>();

  /** @internal */
  constructor(
    private readonly handler: string,
    private readonly scope: DecisionScope,
  ) {}

  /**
   * Counts one decision. `method` is the call's MCP method (`undefined` when it could not be read;
   * a method MCP does not define is recorded as `_OTHER`, so a client cannot make up time series).
   * `count` is how many decisions it stands for (a JSON-RPC batch decided at once), default 1.
   */
  record(outcome: DecisionOutcome, method: string | undefined, count = 1): void {
    const key =
      method === undefined ? NO_METHOD : CLIENT_REQUEST_METHODS.has(method) ? method : OTHER;
    let series = this.byMethod.get(key);
    if (series === undefined) {
      series = this.seriesFor(key);
      this.byMethod.set(key, series);
    }
    series.totals[outcome] += count;
  }

  /** @internal Reports every total recorded so far (at each collection). */
  observe(result: ObservableResultLike): void {
    for (const series of this.byMethod.values()) {
      for (const outcome of OUTCOMES) {
        const total = series.totals[outcome];
        if (total > 0) result.observe(total, series.attributes[outcome]);
      }
    }
  }

  private seriesFor(method: string): DecisionSeries {
    const of = (outcome: DecisionOutcome): MetricAttributes => {
      const attributes: Record<string, string> = {
        [METRIC_ATTRIBUTES.outcome]: outcome,
        [METRIC_ATTRIBUTES.handler]: this.handler,
        [METRIC_ATTRIBUTES.scope]: this.scope,
      };
      if (method !== NO_METHOD) attributes[METRIC_ATTRIBUTES.method] = method;
      return Object.freeze(attributes);
    };
    return {
      attributes: {
        allowed: of('allowed'),
        denied: of('denied'),
        'store-error': of('store-error'),
      },
      totals: { allowed: 0, denied: 0, 'store-error': 0 },
    };
  }
}

/**
 * The module's OpenTelemetry instruments: decisions (a counter, observed from running totals),
 * store call durations (a histogram) and whether the store is in outage (an observable gauge).
 *
 * Made at bootstrap by {@link RateLimitMetrics.create}, which answers `undefined` when the app
 * has no `@opentelemetry/api` or no meter provider: the caller then holds `undefined` and its
 * `metrics?.…` calls cost nothing.
 *
 * @example
 * ```ts
 * const metrics = await RateLimitMetrics.create();
 * const tools = metrics?.forHandler('WeatherTools.forecast', 'handler');
 * tools?.record('allowed', 'tools/call');
 * ```
 */
export class RateLimitMetrics {
  private readonly observeDecisions = (result: ObservableResultLike): void => {
    for (const handler of this.handlers.values()) handler.observe(result);
  };
  private readonly storeDuration: {
    record(value: number, attributes?: MetricAttributes): void;
  };
  private readonly outage: ObservableLike;
  private readonly handlers = new Map<string, HandlerMetrics>();
  private readonly succeeded: Readonly<Record<StoreOperation, MetricAttributes>>;
  private readonly failed = new Map<string, MetricAttributes>();
  private stopOutage: (() => void) | undefined;
  private readonly stopDecisions: () => void;

  /** Records with `meterProvider`'s meter. Prefer {@link RateLimitMetrics.create}. */
  constructor(private readonly meterProvider: MeterProviderLike) {
    const meter = meterProvider.getMeter(METER_NAME);
    const decisions = meter.createObservableCounter(DECISIONS_METRIC, {
      description: 'Rate-limit decisions, by outcome, handler, MCP method and scope.',
      unit: '{decision}',
    });
    this.stopDecisions = observeShared(
      meterProvider,
      DECISIONS_METRIC,
      decisions,
      this.observeDecisions,
      'sum',
    );
    this.storeDuration = meter.createHistogram(STORE_DURATION_METRIC, {
      description: 'Duration of calls to the rate-limit store.',
      unit: 's',
      advice: { explicitBucketBoundaries: STORE_DURATION_BUCKETS },
    });
    this.outage = meter.createObservableGauge(STORE_OUTAGE_METRIC, {
      description: '1 while the rate-limit store is in outage (the onStoreError policy decides).',
      unit: '1',
    });
    const ok = (operation: StoreOperation): MetricAttributes =>
      Object.freeze({ [METRIC_ATTRIBUTES.operation]: operation });
    this.succeeded = {
      evaluate: ok('evaluate'),
      peek: ok('peek'),
      refund: ok('refund'),
      reset: ok('reset'),
    };
  }

  /**
   * The metrics of an app: with `options.meterProvider`, or else with the global provider of
   * `@opentelemetry/api` when it is installed and a provider is registered. `undefined` otherwise.
   * Call it at bootstrap: a provider registered later is not seen.
   */
  static async create(
    options: RateLimitMetricsOptions = {},
  ): Promise<RateLimitMetrics | undefined> {
    const provider = options.meterProvider ?? (await globalMeterProvider());
    return provider === undefined ? undefined : new RateLimitMetrics(provider);
  }

  /**
   * The recorder of one handler's decisions in one scope; the same object for the same pair. Take
   * it at bootstrap (e.g. in the handler's plan) so that recording is one call.
   * @param handler the handler as `Class.method`
   */
  forHandler(handler: string, scope: DecisionScope): HandlerMetrics {
    const key = `${scope} ${handler}`;
    let metrics = this.handlers.get(key);
    if (metrics === undefined) {
      metrics = new HandlerMetrics(handler, scope);
      this.handlers.set(key, metrics);
    }
    return metrics;
  }

  /**
   * Feeds the outage gauge: `inOutage` is asked at each collection (e.g. the outage policy's
   * `degraded`). A second call replaces the first.
   */
  observeStoreOutage(inOutage: () => boolean): void {
    this.stopOutage?.();
    const callback = (result: ObservableResultLike): void => result.observe(inOutage() ? 1 : 0);
    this.stopOutage = observeShared(
      this.meterProvider,
      STORE_OUTAGE_METRIC,
      this.outage,
      callback,
      'max',
    );
  }

  /** Stops reporting to OpenTelemetry (module shutdown): collections no longer ask this object. */
  close(): void {
    this.stopOutage?.();
    this.stopOutage = undefined;
    this.stopDecisions();
  }

  /**
   * `store` with every call timed into the store duration histogram (with `error.type` when the
   * call fails). Wrap the store that does I/O, inside the outage policy, so that the durations
   * are those of the store itself; an in-memory store has no latency worth a histogram and must
   * stay as it is (the engine drives it synchronously).
   */
  timeStore(store: RateLimitStore): RateLimitStore & { readonly timed: RateLimitStore } {
    const timed: RateLimitStore & { readonly timed: RateLimitStore } = {
      timed: store,
      evaluate: (checks: readonly LimitCheck[]) =>
        this.time('evaluate', () => store.evaluate(checks)),
    };
    if (store.peek !== undefined) {
      timed.peek = (checks: readonly LimitCheck[]): Promise<readonly LimitOutcome[]> =>
        this.time('peek', () => store.peek!(checks));
    }
    if (store.refund !== undefined) {
      timed.refund = (checks: readonly LimitCheck[]): Promise<void> =>
        this.time('refund', () => store.refund!(checks));
    }
    if (store.reset !== undefined) {
      timed.reset = (keys: readonly string[]): Promise<void> =>
        this.time('reset', () => store.reset!(keys));
    }
    // Not timed (not a call's decision), but forwarded: without it the outage policy cannot read
    // the store's reset marks, and a reset on one instance would not reach the others' insurance.
    if (store.resetAt !== undefined) timed.resetAt = (keys) => store.resetAt!(keys);
    return timed;
  }

  /** Runs a store call, recording its duration in seconds (with `error.type` when it fails). */
  private time<T>(operation: StoreOperation, call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const failed = (error: unknown): never => {
      const seconds = (performance.now() - started) / 1000;
      this.recordDuration(seconds, () => this.failedAttributes(operation, error));
      throw error;
    };
    let pending: Promise<T>;
    try {
      pending = call();
    } catch (error) {
      return failed(error);
    }
    return pending.then((value) => {
      this.recordDuration((performance.now() - started) / 1000, () => this.succeeded[operation]);
      return value;
    }, failed);
  }

  /**
   * A metrics failure (a broken exporter or view, an SDK bug) must change no decision: thrown
   * from here it would turn a store call that succeeded into a failure, and the outage policy
   * would decide the call (admitting past the limit with 'allow', denying everyone with 'deny').
   */
  private recordDuration(seconds: number, attributes: () => MetricAttributes): void {
    try {
      this.storeDuration.record(seconds, attributes());
    } catch {
      // The duration is lost; the call's own outcome stands.
    }
  }

  private failedAttributes(operation: StoreOperation, error: unknown): MetricAttributes {
    const type = errorType(error);
    const key = `${operation} ${type}`;
    let attributes = this.failed.get(key);
    if (attributes === undefined) {
      attributes = Object.freeze({
        [METRIC_ATTRIBUTES.operation]: operation,
        [METRIC_ATTRIBUTES.errorType]: type,
      });
      this.failed.set(key, attributes);
    }
    return attributes;
  }
}

/** `error.type`: the error's class name, a short bounded value; `_OTHER` when there is none. */
function errorType(error: unknown): string {
  const name = error instanceof Error ? error.name : undefined;
  return name !== undefined && name.length > 0 && name.length <= MAX_ERROR_TYPE_LENGTH
    ? name
    : OTHER;
}

/**
 * The meter provider registered with `@opentelemetry/api`, if the package is installed (an
 * optional peer) and something registered one. The API answers a no-op meter when nothing did.
 */
async function globalMeterProvider(): Promise<MeterProviderLike | undefined> {
  let api: typeof import('@opentelemetry/api');
  try {
    api = await import('@opentelemetry/api');
  } catch {
    return undefined;
  }
  const provider = api.metrics.getMeterProvider();
  const noopMeter = api.createNoopMeter();
  const meter = provider.getMeter(METER_NAME);
  return meter.constructor === noopMeter.constructor ? undefined : provider;
}

/** The metrics of the module's `metrics` option: default on when a meter provider is registered. */
export async function createModuleMetrics(
  option: boolean | RateLimitMetricsOptions | undefined,
  logger: { warn(message: string): unknown },
): Promise<RateLimitMetrics | undefined> {
  if (option === false) return undefined;
  const metrics = await RateLimitMetrics.create(option === true ? {} : option);
  if (metrics === undefined && option === true) {
    logger.warn(
      'metrics: true, but no OpenTelemetry meter provider is registered (or @opentelemetry/api is not installed): no metrics are recorded',
    );
  }
  return metrics;
}

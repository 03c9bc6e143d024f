import { isStateOf } from '../algorithms/index.js';
import type { AlgorithmStep } from '../algorithms/types.js';
import { monotonicClock, type Clock } from '../clock.js';
import { RateLimitConfigError } from '../limits.js';
import {
  StoreUnavailableError,
  type LimitCheck,
  type LimitOutcome,
  type RateLimitStore,
} from './store.js';

/** The part of a cache-manager 7 `Cache` this store uses. */
export interface CacheLike {
  get<T>(key: string): Promise<T | undefined | null>;
  set<T>(key: string, value: T, ttl?: number): Promise<unknown>;
  /** Needed by `reset` only (cache-manager's `Cache` has it). */
  del?(key: string): Promise<unknown>;
  on?(event: string, listener: (payload: unknown) => void): unknown;
  /** cache-manager 7 exposes its Keyv stores; their `error` events reveal failures it swallows. */
  readonly stores?: readonly { on?(event: string, listener: (error: unknown) => void): unknown }[];
}

export interface CacheManagerStoreOptions {
  /**
   * Epoch milliseconds; monotonic by default. Inject one in tests: fake timers that replace
   * `globalThis.performance` do not move the default clock, which reads `node:perf_hooks`.
   */
  readonly clock?: Clock;
  /** A cache call slower than this counts as a store failure (default 1000 ms). */
  readonly operationTimeoutMs?: number;
}

/**
 * Whether every store of a cache-manager `Cache` keeps its entries in a Map in this process (Keyv's
 * default, as with `CacheModule.register()`). Such a cache shares nothing with other instances, and
 * drops an expired entry only when it is read again: limit state kept there would stay in memory
 * for every subject ever seen. The MemoryStore counts the same, atomically, and drops expired state.
 */
export function isInProcessCache(cache: CacheLike): boolean {
  const stores = (cache as { readonly stores?: unknown }).stores;
  return (
    Array.isArray(stores) &&
    stores.length > 0 &&
    stores.every((keyv) => (keyv as { readonly store?: unknown } | null)?.store instanceof Map)
  );
}

/** The key queues of each cache object, whichever store over it holds them. */
const TAILS_BY_CACHE = new WeakMap<CacheLike, Map<string, Promise<void>>>();

/**
 * Limit state in any cache-manager `Cache` (Keyv stores: in-memory, SQLite, Mongo, Memcache...).
 *
 * cache-manager has no atomic operations, so this store serializes the calls that touch the same
 * key inside this process: exact within one process, NOT atomic across processes. Several instances
 * sharing one cache will admit more than the limit under concurrency; use the Redis store for that.
 *
 * Failures are detected, not swallowed: cache-manager and Keyv report errors as events and return
 * `undefined`; this store listens for them and rejects the evaluation, so the outage policy applies.
 */
export class CacheManagerStore implements RateLimitStore {
  private readonly clock: Clock;
  private readonly operationTimeoutMs: number;
  /** The last promise of each key's queue of evaluations, shared by every store on this cache. */
  private readonly tails: Map<string, Promise<void>>;
  /** Bumped on every error the cache or its stores report. */
  private errorCount = 0;
  private lastError: unknown;

  constructor(
    private readonly cache: CacheLike,
    options: CacheManagerStoreOptions = {},
  ) {
    this.clock = options.clock ?? monotonicClock;
    this.operationTimeoutMs = options.operationTimeoutMs ?? 1000;
    // Two stores over one cache (two modules each making their own) must not race each other.
    let tails = TAILS_BY_CACHE.get(cache);
    if (tails === undefined) TAILS_BY_CACHE.set(cache, (tails = new Map()));
    this.tails = tails;
    const onError = (error: unknown): void => {
      this.errorCount++;
      this.lastError = error;
    };
    cache.on?.('get', (event) => {
      if (event !== null && typeof event === 'object' && 'error' in event) onError(event.error);
    });
    for (const store of cache.stores ?? []) store.on?.('error', onError);
  }

  evaluate(checks: readonly LimitCheck[]): Promise<readonly LimitOutcome[]> {
    return this.locked(checks, async (states, nowMs) => {
      const steps: AlgorithmStep<unknown>[] = checks.map((check, index) =>
        check.limit.evaluateState(states[index], nowMs, check.cost),
      );
      if (steps.every((step) => step.allowed)) {
        await this.write(checks.map((check, index) => [check.key, steps[index]] as const));
      }
      return steps;
    });
  }

  peek(checks: readonly LimitCheck[]): Promise<readonly LimitOutcome[]> {
    return this.locked(checks, (states, nowMs) =>
      Promise.resolve(
        checks.map((check, index) => check.limit.evaluateState(states[index], nowMs, check.cost)),
      ),
    );
  }

  refund(checks: readonly LimitCheck[]): Promise<void> {
    return this.locked(checks, async (states, nowMs) => {
      const writes: (readonly [string, { state: unknown; ttlMs: number }])[] = [];
      checks.forEach((check, index) => {
        const refunded = check.limit.refundState(
          states[index],
          nowMs,
          check.cost,
          check.admittedAtMs ?? nowMs,
        );
        if (refunded !== undefined) writes.push([check.key, refunded]);
      });
      await this.write(writes);
    });
  }

  async reset(keys: readonly string[]): Promise<void> {
    const cache = this.cache;
    const del = cache.del;
    if (del === undefined) {
      throw new RateLimitConfigError('CacheManagerStore: reset needs a cache with del(key)');
    }
    const release = await this.lock([...new Set(keys)]);
    try {
      const errorsBefore = this.errorCount;
      await this.guarded(Promise.all(keys.map((key) => del.call(cache, key))));
      this.throwIfErrored(errorsBefore);
    } finally {
      release();
    }
  }

  /**
   * Runs `work` on the current states of the checks' keys (and the time), holding those keys:
   * no other call of this store touches them meanwhile.
   */
  private async locked<T>(
    checks: readonly LimitCheck[],
    work: (states: readonly unknown[], nowMs: number) => Promise<T>,
  ): Promise<T> {
    const release = await this.lock([...new Set(checks.map((check) => check.key))]);
    try {
      const errorsBefore = this.errorCount;
      const states = await this.guarded(
        Promise.all(checks.map((check) => this.cache.get<unknown>(check.key))),
      );
      this.throwIfErrored(errorsBefore);
      // Keys of one call are distinct (the engine sees to it), so each state is read once.
      const read = states.map((state, index) => {
        if (state === null || state === undefined) return undefined;
        if (!isStateOf(checks[index].limit, state)) {
          throw new StoreUnavailableError(
            `cache-manager store: the state of ${checks[index].key} is not a ${checks[index].limit.algorithm} state (does the cache store objects as they are?)`,
          );
        }
        return state;
      });
      return await work(read, this.clock());
    } finally {
      release();
    }
  }

  /** Stores each state with its TTL (at least 1 ms: 0 would mean "forever" to some stores). */
  private async write(
    entries: readonly (readonly [string, { readonly state: unknown; readonly ttlMs: number }])[],
  ): Promise<void> {
    if (entries.length === 0) return;
    const errorsBefore = this.errorCount;
    await this.guarded(
      Promise.all(
        entries.map(([key, { state, ttlMs }]) =>
          this.cache.set(key, state, Math.max(1, Math.ceil(ttlMs))),
        ),
      ),
    );
    this.throwIfErrored(errorsBefore);
  }

  private throwIfErrored(errorsBefore: number): void {
    if (this.errorCount !== errorsBefore) {
      throw new StoreUnavailableError('cache-manager store reported an error', {
        cause: this.lastError,
      });
    }
  }

  private async guarded<T>(operation: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new StoreUnavailableError(
              `cache-manager store did not answer within ${this.operationTimeoutMs} ms`,
            ),
          ),
        this.operationTimeoutMs,
      );
    });
    try {
      return await Promise.race([operation, timeout]);
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      throw new StoreUnavailableError('cache-manager store failed', { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Wait until no earlier evaluation holds any of `keys`, then hold them all. All keys are claimed
   * in one synchronous step, so two evaluations can never each wait for the other.
   */
  private async lock(keys: readonly string[]): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const earlier: Promise<void>[] = [];
    for (const key of keys) {
      const tail = this.tails.get(key);
      if (tail !== undefined) earlier.push(tail);
      this.tails.set(key, held);
    }
    if (earlier.length > 0) await Promise.all(earlier);
    return () => {
      for (const key of keys) if (this.tails.get(key) === held) this.tails.delete(key);
      release();
    };
  }
}

import { isStateOf } from '../algorithms/index.js';
import { MAX_TTL_MS, type AlgorithmStep } from '../algorithms/types.js';
import { monotonicClock, type Clock } from '../clock.js';
import { RateLimitConfigError } from '../limits.js';
import { backendOf, cacheAccess, isInProcessCache, type CacheAccess } from './cache-tiers.js';
import {
  StoreKeyError,
  StoreTimeoutError,
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

/** Options of a {@link CacheManagerStore}. */
export interface CacheManagerStoreOptions {
  /**
   * Epoch milliseconds; monotonic by default. Inject one in tests: fake timers that replace
   * `globalThis.performance` do not move the default clock, which reads `node:perf_hooks`.
   */
  readonly clock?: Clock;
  /**
   * A call whose read and write the cache has not answered within this counts as a store failure
   * (default 1000 ms); so does a wait for the keys other calls hold while the cache answers nothing.
   */
  readonly operationTimeoutMs?: number;
}

export { isInProcessCache } from './cache-tiers.js';

/**
 * What every store over one cache backend shares (see `backendOf`), whichever store made it and
 * through whichever cache object: the key queues, and the keys whose write timed out but may still
 * land (see `doubt`).
 */
const SHARED_BY_CACHE = new WeakMap<object, SharedByCache>();

interface SharedByCache {
  readonly tails: Map<string, Promise<void>>;
  readonly inDoubt: Set<string>;
  /**
   * When the cache last answered a call of any of these stores (monotonic ms): a call queued
   * behind another store's calls waits while the cache answers those.
   */
  lastAnswerMs: number;
}

/**
 * Limit state in any cache-manager `Cache` (Keyv stores: in-memory, SQLite, Mongo, Memcache...).
 *
 * cache-manager has no atomic operations, so this store serializes the calls that touch the same
 * key inside this process: exact within one process, NOT atomic across processes. Several instances
 * sharing one cache will admit more than the limit under concurrency; use the Redis store for that.
 *
 * Failures are detected, not swallowed: cache-manager and Keyv report errors as events and return
 * `undefined`; this store listens for them and rejects the evaluation, so the outage policy applies.
 * Those Keyv reports as a mere miss or `false` (see `cacheAccess`) are found by reading and writing
 * its stores directly.
 */
export class CacheManagerStore implements RateLimitStore {
  private readonly clock: Clock;
  private readonly operationTimeoutMs: number;
  /** Reads and writes that fail where the cache's own would report a failure as a miss. */
  private readonly access: CacheAccess;
  /** The last promise of each key's queue of evaluations, shared by every store on this cache. */
  private readonly tails: Map<string, Promise<void>>;
  private readonly inDoubt: Set<string>;
  private readonly shared: SharedByCache;
  /** Bumped on every error the cache or its stores report. */
  private errorCount = 0;
  private lastError: unknown;

  /**
   * Whether the cache keeps its entries in this process (see `isInProcessCache`): a store over it
   * shares nothing with other instances, and over an LRU a client's own calls evict its state.
   */
  readonly inProcess: boolean;

  constructor(cache: CacheLike, options: CacheManagerStoreOptions = {}) {
    this.inProcess = isInProcessCache(cache);
    this.clock = options.clock ?? monotonicClock;
    this.operationTimeoutMs = options.operationTimeoutMs ?? 1000;
    this.access = cacheAccess(cache);
    // Two stores over one cache (two modules each making their own) must not race each other.
    const backend = backendOf(cache);
    let shared = SHARED_BY_CACHE.get(backend);
    if (shared === undefined) {
      shared = { tails: new Map(), inDoubt: new Set(), lastAnswerMs: -Infinity };
      SHARED_BY_CACHE.set(backend, shared);
    }
    this.shared = shared;
    this.tails = shared.tails;
    this.inDoubt = shared.inDoubt;
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
    return this.locked(checks, async (states, nowMs, deadline) => {
      const steps: AlgorithmStep<unknown>[] = checks.map((check, index) =>
        check.limit.evaluateState(states[index], nowMs, check.cost),
      );
      if (!steps.every((step) => step.allowed)) return steps;
      const writing = this.write(checks.map((check, index) => [check.key, steps[index]] as const));
      try {
        await this.guarded(writing, deadline);
      } catch (error) {
        if (!deadline.passed) throw error;
        this.doubt(checks, writing);
        // The cache may still take the write, and with it the call's ConcurrencyLimit leases,
        // which the outage policy's answer does not name: it frees them once the write lands.
        const late = writing.then(
          () => steps,
          () => undefined,
        );
        throw new StoreTimeoutError((error as Error).message, late);
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
    return this.locked(checks, async (states, nowMs, deadline) => {
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
      const writing = this.write(writes);
      try {
        await this.guarded(writing, deadline);
      } catch (error) {
        if (deadline.passed) this.doubt(checks, writing);
        throw error;
      }
    });
  }

  async reset(keys: readonly string[]): Promise<void> {
    const del = this.access.del;
    if (del === undefined) {
      throw new RateLimitConfigError('CacheManagerStore: reset needs a cache with del(key)');
    }
    const release = await this.lock([...new Set(keys)]);
    const deadline = new Deadline(this.operationTimeoutMs);
    try {
      const errorsBefore = this.errorCount;
      await this.guarded(Promise.all(keys.map((key) => del(key))), deadline);
      this.throwIfErrored(errorsBefore);
    } finally {
      release();
      deadline.clear();
    }
  }

  /**
   * Runs `work` on the current states of the checks' keys (and the time), holding those keys:
   * no other call of this store touches them meanwhile. The cache has `operationTimeoutMs` to
   * answer, from when the keys are held (waiting for them is bounded in `lock`).
   */
  private async locked<T>(
    checks: readonly LimitCheck[],
    work: (states: readonly unknown[], nowMs: number, deadline: Deadline) => Promise<T>,
  ): Promise<T> {
    const release = await this.lock([...new Set(checks.map((check) => check.key))]);
    const deadline = new Deadline(this.operationTimeoutMs);
    try {
      const doubtful = checks.find((check) => this.inDoubt.has(check.key));
      if (doubtful !== undefined) {
        throw new StoreKeyError(
          `cache-manager store: a write of ${doubtful.key} timed out and may still land`,
        );
      }
      const errorsBefore = this.errorCount;
      const states = await this.guarded(
        Promise.all(checks.map((check) => this.access.get(check.key))),
        deadline,
      );
      this.throwIfErrored(errorsBefore);
      // Keys of one call are distinct (the engine sees to it), so each state is read once.
      const read = states.map((state, index) => {
        if (state === null || state === undefined) return undefined;
        if (!isStateOf(checks[index].limit, state)) {
          throw new StoreKeyError(
            `cache-manager store: the state of ${checks[index].key} is not a ${checks[index].limit.algorithm} state (does the cache store objects as they are?)`,
          );
        }
        return state;
      });
      return await work(read, this.clock(), deadline);
    } finally {
      release();
      deadline.clear();
    }
  }

  /**
   * A write of these keys timed out but may still land: until it settles, the keys are not read
   * (their calls fail, and the outage policy decides them). A state read meanwhile misses that
   * write, and the write, landing after the states decided from it, would put the key back to its
   * own call's state, erasing every call admitted in between.
   */
  private doubt(checks: readonly LimitCheck[], writing: Promise<void>): void {
    const keys = checks.map((check) => check.key);
    for (const key of keys) this.inDoubt.add(key);
    const settled = (): void => {
      for (const key of keys) this.inDoubt.delete(key);
    };
    writing.then(settled, settled);
  }

  /**
   * Stores each state with its TTL (at least 1 ms: 0 would mean "forever" to some stores; at most
   * MAX_TTL_MS: a Redis-backed cache refuses a longer one, which failed every call of the limit
   * into the outage policy). Settles when the cache has answered, however long it takes: the
   * caller bounds its own wait.
   */
  private async write(
    entries: readonly (readonly [string, { readonly state: unknown; readonly ttlMs: number }])[],
  ): Promise<void> {
    if (entries.length === 0) return;
    const errorsBefore = this.errorCount;
    await Promise.all(
      entries.map(([key, { state, ttlMs }]) =>
        this.access.set(key, state, Math.min(MAX_TTL_MS, Math.max(1, Math.ceil(ttlMs)))),
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

  /** Waits for `operation` until the call's deadline; whatever fails is the store's failure. */
  private async guarded<T>(operation: Promise<T>, deadline: Deadline): Promise<T> {
    try {
      const answer = await Promise.race([operation, deadline.reached]);
      this.shared.lastAnswerMs = monotonicClock();
      return answer;
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      throw new StoreUnavailableError('cache-manager store failed', { cause: error });
    }
  }

  /**
   * Wait until no earlier evaluation holds any of `keys`, then hold them all. All keys are claimed
   * in one synchronous step, so two evaluations can never each wait for the other. A wait ends in a
   * timeout only when the cache has answered nothing for `operationTimeoutMs`: calls queued behind
   * a stalled cache are decided by the outage policy together, not one timeout each in turn, while
   * a queue the cache keeps answering (one client's burst on its own key) is no outage. A call that
   * gives its turn up does so only when that turn comes: those after it still wait for it.
   */
  private async lock(keys: readonly string[]): Promise<() => void> {
    let resolveHeld!: () => void;
    const held = new Promise<void>((resolve) => (resolveHeld = resolve));
    const earlier: Promise<void>[] = [];
    for (const key of keys) {
      const tail = this.tails.get(key);
      if (tail !== undefined) earlier.push(tail);
      this.tails.set(key, held);
    }
    const release = (): void => {
      for (const key of keys) if (this.tails.get(key) === held) this.tails.delete(key);
      resolveHeld();
    };
    if (earlier.length === 0) return release;
    const turn = Promise.all(earlier);
    for (let waitedFromMs = monotonicClock(); ; waitedFromMs = monotonicClock()) {
      const deadline = new Deadline(this.operationTimeoutMs);
      try {
        await Promise.race([turn, deadline.reached]);
        return release;
      } catch (error) {
        if (this.shared.lastAnswerMs >= waitedFromMs) continue; // the cache answers: keep waiting
        void turn.then(release);
        throw error;
      } finally {
        deadline.clear();
      }
    }
  }
}

/** When one call of the store has waited long enough: a single timer for all its waits. */
class Deadline {
  /** Rejects with a StoreUnavailableError once the time is up. */
  readonly reached: Promise<never>;
  private expired = false;
  private cleared = false;
  private readonly timer: ReturnType<typeof setTimeout>;

  constructor(timeoutMs: number) {
    let reject!: (error: StoreUnavailableError) => void;
    this.reached = new Promise<never>((_, rejectReached) => (reject = rejectReached));
    // Raced by each wait of the call; between waits nobody listens, which is no failure.
    this.reached.catch(() => undefined);
    // Decided in the check phase after the timer's: an answer that arrived while the process was
    // busy is read in the poll phase between them and wins, never taken for a timeout.
    this.timer = setTimeout(() => {
      setImmediate(() => {
        if (this.cleared) return;
        this.expired = true;
        reject(
          new StoreUnavailableError(`cache-manager store did not answer within ${timeoutMs} ms`),
        );
      });
    }, timeoutMs);
  }

  /** Whether the time is up. */
  get passed(): boolean {
    return this.expired;
  }

  clear(): void {
    this.cleared = true;
    clearTimeout(this.timer);
  }
}

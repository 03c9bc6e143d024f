import { StoreUnavailableError } from './store.js';

/** The part of a Keyv store (one tier of a cache-manager `Cache`) read and written directly. */
interface KeyvTier {
  /** Like `get`, but a failed read of the storage adapter rejects instead of answering a miss. */
  getRaw(key: string): Promise<{ readonly value?: unknown } | undefined | null>;
  /** Answers `false` when the adapter refused the write (Keyv catches the error). */
  set(key: string, value: unknown, ttl?: number): Promise<unknown>;
  delete(key: string): Promise<unknown>;
}

/** How the CacheManagerStore reads and writes one state. */
export interface CacheAccess {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown, ttlMs: number): Promise<void>;
  /** Undefined for a cache without `del`, which cannot reset. */
  readonly del: ((key: string) => Promise<void>) | undefined;
}

/**
 * Reads and writes that tell a failure from a miss. Keyv's `get` catches a failed read of its
 * storage adapter and answers a miss without an 'error' event, and with `emitErrors: false` its
 * `set` answers `false` for a refused write, silently too; cache-manager passes on neither. Taken
 * at their word, a failed read was a fresh allowance (and its call wrote a fresh state over the
 * used-up one), a refused write an admission that counted nothing, and no outage policy was told.
 * So over Keyv stores the tiers are read and written here, as cache-manager would (the first tier
 * that holds the key answers; every tier takes the write), except that a tier that failed fails
 * the call: a miss in the next tier after it is doubt, not an empty count. A cache made with
 * `nonBlocking: true` is read and written the same way: its own `set` and `del` answer before the
 * stores have acted, and the next call of the subject, let in at once, would decide on the state
 * from before (a delete landing after that call's write erases its admission). Any other cache is
 * used through its own `get`, `set` and `del`.
 */
export function cacheAccess(cache: {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown, ttl?: number): Promise<unknown>;
  del?(key: string): Promise<unknown>;
  readonly stores?: readonly unknown[];
}): CacheAccess {
  const stores = cache.stores;
  if (!Array.isArray(stores) || stores.length === 0 || !stores.every(isKeyvTier)) {
    const del = cache.del;
    return {
      get: (key) => cache.get(key),
      set: async (key, value, ttlMs) => {
        await cache.set(key, value, ttlMs);
      },
      del:
        del === undefined
          ? undefined
          : async (key) => {
              await del.call(cache, key);
            },
    };
  }
  const tiers = stores as readonly KeyvTier[];
  const readTiers = sharedTiers(tiers);
  return {
    async get(key) {
      for (const tier of readTiers) {
        const raw = await tier.getRaw(key);
        if (raw !== undefined && raw !== null && raw.value !== undefined) return raw.value;
      }
      return undefined;
    },
    async set(key, value, ttlMs) {
      const answers = await Promise.all(tiers.map((tier) => tier.set(key, value, ttlMs)));
      if (answers.includes(false)) {
        throw new StoreUnavailableError(`cache-manager store: the cache did not store ${key}`);
      }
    },
    // Keyv answers false both for a key it did not have and for a failed delete (which it reports
    // as an 'error' event): only the event tells them apart.
    del: async (key) => {
      await Promise.all(tiers.map((tier) => tier.delete(key)));
    },
  };
}

/**
 * The tiers a state is read from: the shared ones, when the cache has an in-process tier in front
 * of them (cache-manager's two-tier setup). That tier holds what this instance last wrote, not the
 * count of every instance: read first, it had each instance count alone and write its own count
 * over the others'. It still takes every write, as cache-manager's own `set` would.
 */
function sharedTiers<T>(tiers: readonly T[]): readonly T[] {
  const shared = tiers.filter((tier) => !isInProcessTier(tier));
  return shared.length === 0 ? tiers : shared;
}

function isKeyvTier(store: unknown): store is KeyvTier {
  const candidate = store as Partial<KeyvTier> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.getRaw === 'function' &&
    typeof candidate.set === 'function' &&
    typeof candidate.delete === 'function'
  );
}

/**
 * The object that holds a cache's entries, as far as can be told: the storage adapter of its first
 * Keyv store that is read (see `sharedTiers`), else that store, else the cache. Two caches made over one Keyv store, or two Keyv
 * stores over one adapter, hold the same keys, so their calls of one subject must queue behind
 * each other as the calls through one cache do.
 */
export function backendOf(cache: object): object {
  const stores = (cache as { readonly stores?: unknown }).stores;
  const first: unknown = Array.isArray(stores) ? sharedTiers(stores)[0] : undefined;
  if (typeof first !== 'object' || first === null) return cache;
  const adapter = (first as { readonly store?: unknown }).store;
  return typeof adapter === 'object' && adapter !== null ? adapter : first;
}

/**
 * Whether every store of a cache-manager `Cache` keeps its entries in this process: Keyv's default
 * Map (`CacheModule.register()`), or cacheable's `CacheableMemory` / `KeyvCacheableMemory` (the
 * in-memory store of Nest's caching docs, often with an `lruSize`). Such a cache shares nothing with
 * other instances; a Map keeps expired state of every subject ever seen until it is read again, and
 * an LRU evicts the oldest entries, so a client calling under many other subjects would evict its
 * own exhausted counter and get a fresh quota. The MemoryStore counts the same, atomically, drops
 * expired state and never evicts live state.
 */
export function isInProcessCache(cache: object): boolean {
  const stores = (cache as { readonly stores?: unknown }).stores;
  return Array.isArray(stores) && stores.length > 0 && stores.every(isInProcessTier);
}

/** cacheable's in-memory stores, known by class name: the app's copy of cacheable is not ours. */
const IN_PROCESS_STORE_CLASSES = new Set(['CacheableMemory', 'KeyvCacheableMemory']);

/** Whether a Keyv store keeps its entries in this process (see `isInProcessCache`). */
function isInProcessTier(keyv: unknown): boolean {
  return isInProcessMap((keyv as { readonly store?: unknown } | null)?.store);
}

function isInProcessMap(store: unknown): boolean {
  if (store instanceof Map) return true;
  for (let type = store; typeof type === 'object' && type !== null;) {
    type = Object.getPrototypeOf(type) as unknown;
    const name = (type as { readonly constructor?: { readonly name?: unknown } } | null)
      ?.constructor?.name;
    if (typeof name === 'string' && IN_PROCESS_STORE_CLASSES.has(name)) return true;
  }
  return false;
}

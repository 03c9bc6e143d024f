import type { ModuleRef } from '@nestjs/core';
import { RateLimitConfigError } from '../core/limits.js';
import { CacheManagerStore, type CacheLike } from '../core/stores/cache-manager-store.js';
import { RedisStore } from '../core/stores/redis-store.js';
import { CACHE_MANAGER_TOKEN } from './tokens.js';
import type { RateLimitStore } from '../core/stores/store.js';
import type { HandlerPlans } from './bootstrap-check.js';

/**
 * What bootstrap checks of the store: refunds (below), and that the client package of the `store`
 * option's own connection (`RedisStore.fromUrl`) is installed.
 */
export async function checkStore(
  plans: HandlerPlans,
  store: RateLimitStore,
  option: RateLimitStore | undefined,
): Promise<void> {
  checkRefunds(plans, store);
  if (option instanceof RedisStore) await option.loadClientLibrary();
}

/** `refundWhen` gives quota back through `store.refund`: a store without it is refused. */
function checkRefunds(plans: HandlerPlans, store: RateLimitStore): void {
  // An outage wrapper refunds through the store it wraps: that one must be able to.
  const primary = (store as { primary?: Partial<RateLimitStore> }).primary;
  if (typeof (primary ?? store).refund === 'function') return;
  for (const byHandler of plans.values()) {
    for (const plan of byHandler.values()) {
      if (plan?.holdsSlots === true) {
        throw new RateLimitConfigError(
          `${plan.owner}: a ConcurrencyLimit needs a store with refund(checks) to release its slots, and ${describeStore(store)} has none. Fix: use a built-in store or add refund() to yours`,
        );
      }
      if (plan?.refundWhen !== undefined && plan.limited && plan.refundsThroughStore) {
        throw new RateLimitConfigError(
          `${plan.owner}: "refundWhen" needs a store with refund(checks), and ${describeStore(store)} has none. Fix: use a built-in store, add refund() to yours, or drop "refundWhen"`,
        );
      }
    }
  }
}

/** A store's name for the bootstrap log line, e.g. `MemoryStore` or `ResilientStore(RedisStore)`. */
export function describeStore(store: RateLimitStore): string {
  const name = (store as object).constructor?.name ?? 'custom store';
  const outer = (store as { primary?: { timed?: unknown } }).primary;
  // The metrics' timing wrapper is not a store of its own: name the store it times.
  const primary = outer?.timed ?? outer;
  if (primary !== null && typeof primary === 'object') {
    return `${name}(${primary.constructor?.name ?? 'custom store'})`;
  }
  return name;
}

/**
 * A warning when the `store` option is a CacheManagerStore over a cache in this process's memory,
 * which the module itself would not have chosen: such a cache shares nothing with other instances,
 * and with an LRU (`lruSize`) a client calling under enough other subjects evicts its own used-up
 * state and gets a fresh quota. The MemoryStore counts the same without evicting live state.
 */
export function inProcessCacheWarning(store: RateLimitStore): string | undefined {
  const outer = (store as { primary?: { timed?: unknown } }).primary;
  const primary = outer?.timed ?? outer ?? store;
  if (!(primary instanceof CacheManagerStore) || !primary.inProcess) return undefined;
  return 'store: a CacheManagerStore over a cache in this process (a Map or cacheable memory store) shares nothing with other instances, and an LRU one (lruSize) lets a client evict its own used-up counter by calling under other subjects: a fresh quota. Fix: leave "store" out (the module then counts in its own MemoryStore) or give a cache shared by every instance';
}

/** The app's cache (`CACHE_MANAGER` of `@nestjs/cache-manager`), if it has one. */
export function findCacheManager(moduleRef: ModuleRef): CacheLike | undefined {
  try {
    const cache = moduleRef.get<unknown>(CACHE_MANAGER_TOKEN, { strict: false });
    const candidate = cache as Partial<CacheLike> | undefined;
    if (typeof candidate?.get === 'function' && typeof candidate.set === 'function') {
      return cache as CacheLike;
    }
  } catch {
    // No CacheModule in this app.
  }
  return undefined;
}

/**
 * Closes the `store` option's connection when the store opened it (`RedisStore.fromUrl`, often made
 * in forRootAsync's factory, where the app keeps no reference to close it by): else the open socket
 * keeps the process alive after `app.close()`. A client the app passed in is the app's to close.
 */
export async function closeOwnedConnection(store: RateLimitStore | undefined): Promise<void> {
  if (store instanceof RedisStore && store.ownsConnection) await store.close();
}

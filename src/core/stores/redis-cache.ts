import type { NodeRedisClientLike, NodeRedisClusterLike } from './redis-client.js';
import { RedisStore, type RedisStoreOptions } from './redis-store.js';

/** What a `@keyv/redis` store (`KeyvRedis`) looks like from outside. */
interface KeyvRedisLike {
  readonly client: NodeRedisClientLike | NodeRedisClusterLike;
  getClient(): Promise<unknown>;
  isCluster(): boolean;
  isSentinel?(): boolean;
}

/**
 * The RedisStore to use for a cache-manager `Cache` (e.g. `@nestjs/cache-manager`'s CACHE_MANAGER)
 * when one of its Keyv stores is `@keyv/redis`: atomic scripts over that store's node-redis client,
 * in the rate limiter's own keys (not Keyv's JSON values). `undefined` for any other cache, which
 * then gets a `CacheManagerStore`. The connection stays the cache's: closing the store leaves it open.
 */
export function redisStoreFromCache(
  cache: unknown,
  options: Omit<RedisStoreOptions, 'client' | 'url' | 'connect'> = {},
): RedisStore | undefined {
  const stores = (cache as { readonly stores?: unknown } | null | undefined)?.stores;
  if (!Array.isArray(stores)) return undefined;
  for (const keyv of stores) {
    const adapter = (keyv as { readonly store?: unknown } | null | undefined)?.store;
    if (!isKeyvRedis(adapter)) continue;
    // `@keyv/redis` connects lazily and reconnects through getClient(); let it do so for us too.
    return new RedisStore({
      ...options,
      client: adapter.client,
      connect: () => adapter.getClient(),
    });
  }
  return undefined;
}

function isKeyvRedis(value: unknown): value is KeyvRedisLike {
  if (value === null || typeof value !== 'object') return false;
  const candidate = value as Partial<KeyvRedisLike>;
  const client = candidate.client as { sendCommand?: unknown } | undefined;
  return (
    typeof candidate.getClient === 'function' &&
    typeof candidate.isCluster === 'function' &&
    // Sentinel clients speak another sendCommand dialect; they keep the CacheManagerStore.
    candidate.isSentinel?.() !== true &&
    client !== null &&
    typeof client === 'object' &&
    typeof client.sendCommand === 'function'
  );
}

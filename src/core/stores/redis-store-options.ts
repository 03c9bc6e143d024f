import type { Clock } from '../clock.js';
import { refuseUnknownOptions } from '../config-checks.js';
import type { RedisClientLike } from './redis-client.js';

/** Options of `RedisStore`: give either `client` or `url`. */
export interface RedisStoreOptions {
  /**
   * A node-redis v5 client or cluster (`createClient()` / `createCluster()` of `redis`), or an
   * ioredis `Redis` / `Cluster`. The store does not close it. A client that is not connected yet
   * is connected on first use.
   */
  readonly client?: RedisClientLike;
  /** `redis://...` URL: the store creates, connects and owns its client (close it with `close()`). */
  readonly url?: string;
  /** The library that creates the client for `url` (default `redis`, i.e. node-redis). */
  readonly library?: 'redis' | 'ioredis';
  /**
   * A call that Redis has not answered within this many ms is rejected with
   * `StoreUnavailableError`, so the outage policy decides it (default 1000).
   */
  readonly commandTimeoutMs?: number;
  /**
   * Tests only: take the time from this clock instead of the Redis server's `TIME`. Production never
   * sets it: server time keeps instances with skewed clocks in agreement.
   */
  readonly clock?: Clock;
  /**
   * Keep every key this many ms longer than its algorithm needs (default 0). A state kept past its
   * TTL decides like no state, so this never changes a decision; tests that inject a `clock` use it
   * so that Redis (which expires keys on its own clock) keeps keys until the injected time is done
   * with them.
   */
  readonly extraTtlMs?: number;
  /** How to (re)open a closed client, when something else owns the connection (`@keyv/redis`). */
  readonly connect?: () => Promise<unknown>;
}

// A record over every key of the options: the compiler keeps the list whole. The store hands none
// of them to a client library (it builds its own client options for `url`), so any other key is a
// mistake, e.g. ioredis's `commandTimeout` for `commandTimeoutMs`.
const OPTION_NAMES = Object.keys({
  client: true,
  url: true,
  library: true,
  commandTimeoutMs: true,
  clock: true,
  extraTtlMs: true,
  connect: true,
} satisfies Record<keyof RedisStoreOptions, true>);

/** Refuses an option `RedisStore` does not know, naming it and the ones it knows. */
export function refuseUnknownRedisStoreOptions(options: RedisStoreOptions): void {
  refuseUnknownOptions('RedisStore', Object.keys(options), OPTION_NAMES);
}

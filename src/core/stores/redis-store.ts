import type { AlgorithmName } from '../algorithms/types.js';
import { type Clock, monotonicClock } from '../clock.js';
import { BuiltInRateLimit, RateLimitConfigError } from '../limits.js';
import {
  createTransport,
  type RedisClientLike,
  type ScriptTransport,
  RedisNotReadyError,
} from './redis-client.js';
import {
  ALGORITHM_CODES,
  loadLuaTwins,
  redisScript,
  scriptBySha1,
  type RedisScript,
} from './redis-script.js';
import { clusterSlotOf, hashTagOf } from './redis-slot.js';
import {
  StoreUnavailableError,
  type LimitCheck,
  type LimitOutcome,
  type RateLimitStore,
} from './store.js';

export type {
  RedisClientLike,
  NodeRedisClientLike,
  NodeRedisClusterLike,
  IoRedisLike,
} from './redis-client.js';

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

interface Pending {
  readonly deadlineMs: number;
  readonly reject: (error: unknown) => void;
  settled: boolean;
}

/** What a call sends for each limit that never changes: algorithm code and two parameters. */
const limitArguments = new WeakMap<BuiltInRateLimit, readonly [string, string, string]>();

/**
 * Limit state in Redis, exact across any number of instances.
 *
 * Every limit of a call is checked and committed in ONE script call (EVALSHA; EVAL when Redis does
 * not know the script yet): all allow and all commit, or none does, atomically with respect to every
 * other call on the same Redis. The script runs the Lua twins of the TypeScript algorithms, with the
 * time of the Redis server. Every key gets a TTL. The keys of a call share a hash tag (the subject),
 * so one call touches one Redis Cluster slot. Needs Redis 6.0 or later (the fixed window uses
 * `SET ... KEEPTTL`).
 *
 * When Redis does not answer (down, reconnecting, slower than `commandTimeoutMs`) the call rejects
 * promptly with `StoreUnavailableError`; `createRateLimiter` and the Nest module wrap the store in
 * the outage policy (`onStoreError`), and use Redis again as soon as it answers.
 *
 * @example
 * const store = RedisStore.fromUrl('redis://127.0.0.1:6379');
 * const limiter = createRateLimiter({ limits: [new FixedWindowRateLimit({ maxCalls: 10, perSeconds: 60 })], store, name: 'search' });
 */
export class RedisStore implements RateLimitStore {
  // The script of each combination of algorithms this store has been called with, by their codes.
  private readonly scripts = new Map<string, RedisScript>();
  private readonly commandTimeoutMs: number;
  private readonly clock: Clock | undefined;
  private readonly extraTtlMs: number;
  private readonly url: string | undefined;
  private readonly library: 'redis' | 'ioredis';
  private transport: ScriptTransport | undefined;
  private opening: Promise<ScriptTransport> | undefined;
  private readonly owned: boolean;
  private closed = false;
  // Deadlines of calls in flight, oldest first (all share one timeout, so they are in order).
  private pending: Pending[] = [];
  private pendingHead = 0;
  private watchdog: ReturnType<typeof setInterval> | undefined;

  constructor(options: RedisStoreOptions) {
    if (options === null || typeof options !== 'object') {
      throw new RateLimitConfigError(
        'RedisStore: options must be an object ({ client } or { url })',
      );
    }
    const { client, url } = options;
    if ((client === undefined) === (url === undefined)) {
      throw new RateLimitConfigError('RedisStore: give exactly one of "client" and "url"');
    }
    if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) {
      throw new RateLimitConfigError(
        `RedisStore: "url" must be a redis:// or rediss:// URL (got ${String(url)})`,
      );
    }
    const library = options.library ?? 'redis';
    if (library !== 'redis' && library !== 'ioredis') {
      throw new RateLimitConfigError(
        `RedisStore: "library" must be "redis" or "ioredis" (got ${String(library)})`,
      );
    }
    const commandTimeoutMs = options.commandTimeoutMs ?? 1000;
    if (!(
      typeof commandTimeoutMs === 'number' &&
      commandTimeoutMs > 0 &&
      commandTimeoutMs < 2 ** 31
    )) {
      throw new RateLimitConfigError(
        `RedisStore: "commandTimeoutMs" must be a positive number of milliseconds (got ${String(commandTimeoutMs)})`,
      );
    }
    const extraTtlMs = options.extraTtlMs ?? 0;
    if (!(Number.isSafeInteger(extraTtlMs) && extraTtlMs >= 0)) {
      throw new RateLimitConfigError(
        `RedisStore: "extraTtlMs" must be a non-negative integer (got ${String(extraTtlMs)})`,
      );
    }
    if (options.clock !== undefined && typeof options.clock !== 'function') {
      throw new RateLimitConfigError('RedisStore: "clock" must be a function returning epoch ms');
    }
    loadLuaTwins();
    this.commandTimeoutMs = commandTimeoutMs;
    this.clock = options.clock;
    this.extraTtlMs = extraTtlMs;
    this.url = url;
    this.library = library;
    this.owned = client === undefined;
    if (client !== undefined) this.transport = createTransport(client, options.connect);
  }

  /** A store over its own connection to `url` (node-redis unless `library: 'ioredis'`). */
  static fromUrl(url: string, options: Omit<RedisStoreOptions, 'client' | 'url'> = {}): RedisStore {
    return new RedisStore({ ...options, url });
  }

  evaluate(checks: readonly LimitCheck[]): Promise<readonly LimitOutcome[]> {
    if (checks.length === 0) return Promise.resolve([]);
    let args: string[];
    try {
      args = this.scriptArguments(checks);
    } catch (error) {
      return Promise.reject(error);
    }
    const count = checks.length;
    return new Promise<readonly LimitOutcome[]>((resolve, reject) => {
      const pending: Pending = {
        deadlineMs: monotonicClock() + this.commandTimeoutMs,
        reject,
        settled: false,
      };
      this.track(pending);
      this.send(args, checks).then(
        (reply) => {
          this.settle(pending);
          try {
            resolve(parseReply(reply, count));
          } catch (error) {
            reject(unavailable(error));
          }
        },
        (error: unknown) => {
          this.settle(pending);
          reject(unavailable(error));
        },
      );
    });
  }

  /** Stop the timeout watchdog and close the connection if the store opened it (`url`). */
  async close(): Promise<void> {
    this.closed = true;
    this.stopWatchdog();
    const transport = this.transport ?? (await this.opening?.catch(() => undefined));
    if (this.owned && transport !== undefined) await transport.close();
  }

  /** The script call's raw reply. The usual case (connected, not a cluster) takes no detour. */
  private send(args: string[], checks: readonly LimitCheck[]): Promise<unknown> {
    const transport = this.transport;
    if (transport === undefined || this.closed || (transport.cluster && checks.length > 1)) {
      return this.sendWhenReady(args, checks);
    }
    const waiting = transport.ready();
    if (waiting !== undefined) {
      return waiting.then(() => this.sendScript(transport, args, checks[0].key));
    }
    return this.sendScript(transport, args, checks[0].key);
  }

  private async sendWhenReady(args: string[], checks: readonly LimitCheck[]): Promise<unknown> {
    if (this.closed) throw new StoreUnavailableError('RedisStore is closed');
    const transport = this.transport ?? (await this.open());
    if (transport.cluster && checks.length > 1) assertOneSlot(checks);
    const waiting = transport.ready();
    if (waiting !== undefined) await waiting;
    return this.sendScript(transport, args, checks[0].key);
  }

  private sendScript(
    transport: ScriptTransport,
    args: string[],
    firstKey: string,
  ): Promise<unknown> {
    return transport.send(args, firstKey).then(undefined, (error: unknown) => {
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
      // First call of this script on this Redis (or after a restart or SCRIPT FLUSH): EVAL also
      // caches the script.
      const evalArgs = args.slice();
      evalArgs[0] = 'EVAL';
      evalArgs[1] = (scriptBySha1(args[1]) as RedisScript).source;
      return transport.send(evalArgs, firstKey);
    });
  }

  private open(): Promise<ScriptTransport> {
    this.opening ??= this.createOwnedTransport().then(
      (transport) => (this.transport = transport),
      (error: unknown) => {
        this.opening = undefined;
        throw error;
      },
    );
    return this.opening;
  }

  private async createOwnedTransport(): Promise<ScriptTransport> {
    const url = this.url as string;
    if (this.library === 'ioredis') {
      const { Redis } = await import('ioredis');
      // No offline queue: while Redis is down, calls fail at once and the outage policy decides.
      const client = new Redis(url, {
        lazyConnect: true,
        enableOfflineQueue: false,
        connectTimeout: Math.max(this.commandTimeoutMs, 1000),
        maxRetriesPerRequest: 1,
      });
      return createTransport(client as unknown as RedisClientLike);
    }
    const { createClient } = await import('redis');
    const client = createClient({
      url,
      disableOfflineQueue: true,
      socket: { connectTimeout: Math.max(this.commandTimeoutMs, 1000) },
    });
    return createTransport(client as unknown as RedisClientLike);
  }

  /** EVALSHA, the SHA1 of the script for this combination of algorithms, keys, then ARGV. */
  private scriptArguments(checks: readonly LimitCheck[]): string[] {
    const count = checks.length;
    const clock = this.clock;
    const args = new Array<string>(3 + 4 * count + (clock === undefined ? 0 : 1));
    args[0] = 'EVALSHA';
    args[2] = KEY_COUNTS[count] ?? String(count);
    let at = 3 + count;
    if (clock !== undefined) args[at++] = String(clock());
    let codes = '';
    for (let index = 0; index < count; index++) {
      const check = checks[index];
      args[3 + index] = check.key;
      const parts = argumentsOf(check.limit);
      codes += parts[0];
      args[at++] = parts[1];
      args[at++] = parts[2];
      args[at++] = check.cost === 1 ? '1' : String(check.cost);
    }
    args[1] = this.scriptFor(codes).sha1;
    return args;
  }

  private scriptFor(codes: string): RedisScript {
    let script = this.scripts.get(codes);
    if (script === undefined) {
      script = redisScript(codes, this.clock !== undefined, this.extraTtlMs);
      this.scripts.set(codes, script);
    }
    return script;
  }

  private track(pending: Pending): void {
    this.pending.push(pending);
    if (this.watchdog === undefined) {
      this.watchdog = setInterval(() => this.expire(), Math.max(5, this.commandTimeoutMs / 4));
      this.watchdog.unref();
    }
  }

  /**
   * Mark a call answered and drop the answered calls at the head of the queue at once (Redis
   * answers in order, so usually all of them): a call's objects then die young. Kept until the
   * watchdog's next sweep, every call of a busy store survived into the old generation, and
   * garbage collection took over 40% of the store's CPU.
   */
  private settle(pending: Pending): void {
    pending.settled = true;
    const queue = this.pending;
    let head = this.pendingHead;
    while (head < queue.length && queue[head].settled) head++;
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    } else if (head > 1024 && head * 2 > queue.length) {
      this.pending = queue.slice(head);
      head = 0;
    }
    this.pendingHead = head;
  }

  /** Reject the calls past their deadline; drop settled ones from the head of the queue. */
  private expire(): void {
    const nowMs = monotonicClock();
    const pending = this.pending;
    let head = this.pendingHead;
    while (head < pending.length) {
      const oldest = pending[head];
      if (!oldest.settled) {
        if (oldest.deadlineMs > nowMs) break;
        oldest.settled = true;
        oldest.reject(
          new StoreUnavailableError(`Redis did not answer within ${this.commandTimeoutMs} ms`),
        );
      }
      head++;
    }
    if (head === pending.length) {
      this.pending = [];
      this.pendingHead = 0;
      this.stopWatchdog();
    } else if (head > 1024) {
      this.pending = pending.slice(head);
      this.pendingHead = 0;
    } else {
      this.pendingHead = head;
    }
  }

  private stopWatchdog(): void {
    if (this.watchdog !== undefined) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }
}

function argumentsOf(limit: BuiltInRateLimit): readonly [string, string, string] {
  let cached = limitArguments.get(limit);
  if (cached === undefined) {
    if (!(limit instanceof BuiltInRateLimit)) {
      throw new TypeError('RedisStore: every check needs a built-in limit');
    }
    const params = limit.params as Record<string, number>;
    const names = PARAMETER_NAMES[limit.algorithm];
    cached = [ALGORITHM_CODES[limit.algorithm], String(params[names[0]]), String(params[names[1]])];
    limitArguments.set(limit, cached);
  }
  return cached;
}

const KEY_COUNTS = ['0', '1', '2', '3', '4', '5', '6', '7', '8'];

/** The two parameters of each algorithm, in the order its Lua twin takes them. */
const PARAMETER_NAMES: Readonly<Record<AlgorithmName, readonly [string, string]>> = {
  'fixed-window': ['limit', 'periodMs'],
  'sliding-window': ['limit', 'periodMs'],
  'token-bucket': ['capacity', 'refillPerSecond'],
  gcra: ['emissionIntervalMs', 'burst'],
};

// Per limit, the script answers four little-endian doubles (see redisScript).
const REPLY_BYTES_PER_LIMIT = 32;

function parseReply(reply: unknown, count: number): LimitOutcome[] {
  if (!(Buffer.isBuffer(reply) && reply.length === REPLY_BYTES_PER_LIMIT * count)) {
    throw new StoreUnavailableError(
      typeof reply === 'string'
        ? 'RedisStore: the Redis client answered text where bytes were asked for; it must pass the per-command typeMapping option (node-redis v5) or offer callBuffer (ioredis)'
        : 'RedisStore: unexpected reply from the rate limit script',
    );
  }
  const outcomes = new Array<LimitOutcome>(count);
  for (let index = 0; index < count; index++) {
    const at = REPLY_BYTES_PER_LIMIT * index;
    outcomes[index] = {
      allowed: reply.readDoubleLE(at) === 1,
      retryAfterMs: reply.readDoubleLE(at + 8),
      remaining: reply.readDoubleLE(at + 16),
      resetAfterMs: reply.readDoubleLE(at + 24),
    };
  }
  return outcomes;
}

/** In a Cluster, all keys of a call must live in one slot for the script to see them together. */
function assertOneSlot(checks: readonly LimitCheck[]): void {
  const tag = hashTagOf(checks[0].key);
  for (const check of checks) {
    if (hashTagOf(check.key) === tag) continue;
    const slot = clusterSlotOf(checks[0].key);
    if (checks.some((other) => clusterSlotOf(other.key) !== slot)) {
      throw new RateLimitConfigError(
        `RedisStore: the keys of one call are in different Redis Cluster slots (${checks.map((other) => other.key).join(', ')}); limits of one call with their own key() must map to the same subject in a Cluster`,
      );
    }
    return;
  }
}

function unavailable(error: unknown): Error {
  // A configuration error is not an outage: it must reach the caller, not the outage policy.
  if (error instanceof StoreUnavailableError || error instanceof RateLimitConfigError) return error;
  const reason =
    error instanceof RedisNotReadyError
      ? error.message
      : `Redis call failed: ${error instanceof Error ? error.message : String(error)}`;
  return new StoreUnavailableError(`RedisStore: ${reason}`, { cause: error });
}

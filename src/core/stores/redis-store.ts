import { randomBytes } from 'node:crypto';
import type { AlgorithmName } from '../algorithms/types.js';
import type { Clock } from '../clock.js';
import { BuiltInRateLimit, RateLimitConfigError } from '../limits.js';
import { ScriptBatcher, type LimitArguments, type ScriptCall } from './redis-batch.js';
import { createTransport, type ScriptTransport } from './redis-client.js';
import {
  ALGORITHM_CODES,
  MAX_BATCH_LIMITS,
  RESET_MARKER_SUFFIX,
  algorithmBit,
  loadLuaTwins,
  redisScript,
} from './redis-script.js';
import { partsBySlot, slotOfCall } from './redis-slot.js';
import { refuseUnknownRedisStoreOptions, type RedisStoreOptions } from './redis-store-options.js';
import {
  StoreUnavailableError,
  type LimitCheck,
  type LimitOutcome,
  type RateLimitStore,
  type ResetMark,
} from './store.js';

export type {
  RedisClientLike,
  NodeRedisClientLike,
  NodeRedisClusterLike,
  IoRedisLike,
} from './redis-client.js';
export type { RedisStoreOptions } from './redis-store-options.js';

/** What a call sends for each limit that never changes: algorithm code and two parameters. */
const limitArguments = new WeakMap<BuiltInRateLimit, LimitArguments>();

/**
 * Limit state in Redis, exact across any number of instances.
 *
 * Every limit of a call is checked and committed in one atomic step of a script (EVALSHA; EVAL when
 * Redis does not know the script yet): all allow and all commit, or none does, atomically with
 * respect to every other call on the same Redis. The calls made in the same tick share one script
 * call (per Cluster slot, up to 128 calls and 256 limits), which decides them one after the other
 * with one reading of the Redis server's clock; a lone call goes out at once. The script runs the
 * Lua twins of the TypeScript algorithms. Every key gets a TTL. The keys of a call share a hash tag
 * (the subject), so one call touches one Redis Cluster slot. Needs Redis 6.0 or later (the fixed
 * window uses `SET ... KEEPTTL`) with scripting; a server that refuses scripts fails every call with
 * an error that says so.
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
  private readonly commandTimeoutMs: number;
  private readonly clock: Clock | undefined;
  private readonly url: string | undefined;
  private readonly library: 'redis' | 'ioredis';
  /** The connection, once there is one (see `open`). */
  private transport: ScriptTransport | undefined;
  private opening: Promise<ScriptTransport> | undefined;
  private readonly owned: boolean;
  private readonly cluster: boolean;
  private closed = false;
  private readonly batcher: ScriptBatcher;

  constructor(options: RedisStoreOptions) {
    if (options === null || typeof options !== 'object') {
      throw new RateLimitConfigError(
        'RedisStore: options must be an object ({ client } or { url })',
      );
    }
    refuseUnknownRedisStoreOptions(options);
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
    this.url = url;
    this.library = library;
    this.owned = client === undefined;
    const givenTime = this.clock !== undefined;
    const transport = (): ScriptTransport | undefined => this.transport;
    this.batcher = new ScriptBatcher({
      scriptFor: (algorithms) => redisScript(givenTime, extraTtlMs, algorithms),
      commandTimeoutMs,
      get transport() {
        return transport();
      },
      open: () => this.open(),
    });
    if (client !== undefined) this.adopt(createTransport(client, options.connect));
    // A store over a URL opens a single node-redis or ioredis connection, never a Cluster.
    this.cluster = this.transport?.cluster ?? false;
  }

  /** A store over its own connection to `url` (node-redis unless `library: 'ioredis'`). */
  static fromUrl(url: string, options: Omit<RedisStoreOptions, 'client' | 'url'> = {}): RedisStore {
    return new RedisStore({ ...options, url });
  }

  evaluate(checks: readonly LimitCheck[]): Promise<readonly LimitOutcome[]> {
    return this.call('e', checks);
  }

  /** What `evaluate` would answer now, committing nothing. */
  peek(checks: readonly LimitCheck[]): Promise<readonly LimitOutcome[]> {
    return this.call('p', checks);
  }

  /**
   * Gives each check's cost back to its limit, all checks in one atomic step (up to
   * `(MAX_BATCH_LIMITS - 1) / 2` limits with rate limits among them), once: the step leaves a mark
   * (2 minutes at most), so a client that re-sends it after a reconnect (ioredis
   * by default) gives nothing back twice. A rate limit's refund also reads its key's reset marker:
   * a call admitted before a reset (made by any instance) gets nothing back. A release of
   * `ConcurrencyLimit` slots alone reads no marker: a reset dropped the leases, and a release of a
   * dropped lease frees nothing (the calls admitted since have later leases: a reset is the last
   * call of its script call, see `Batch`).
   */
  async refund(checks: readonly LimitCheck[]): Promise<void> {
    const op = checks.every((check) => check.limit.algorithm === 'concurrency') ? 'r' : 'x';
    // One key per limit (two with its reset marker) and the mark: more limits only in a huge set.
    const most = Math.floor((MAX_BATCH_LIMITS - 1) / (op === 'r' ? 1 : 2));
    const parts: Promise<readonly LimitOutcome[]>[] = [];
    for (let from = 0; from < checks.length; from += most) {
      parts.push(this.call(op, checks.slice(from, from + most)));
    }
    await Promise.all(parts);
  }

  /**
   * Deletes the state of these keys, and marks each key that had state as reset, at Redis's time,
   * for as long as that state would have lasted (see `refund` and `resetAt`). Per Cluster slot, one
   * atomic step for up to `MAX_BATCH_LIMITS / 2` keys.
   */
  async reset(keys: readonly string[]): Promise<void> {
    const parts = partsBySlot(keys, this.cluster, MAX_BATCH_LIMITS / 2);
    await Promise.all(
      parts.map((part) => {
        const named = part.keys.flatMap((key) => [key, key + RESET_MARKER_SUFFIX]);
        return this.enqueue('d', named, [], NO_COSTS, 0, 0, part.slot);
      }),
    );
  }

  /**
   * Per key, its last reset (Redis time) while that reset's marker lives (as long as the key's
   * state at the reset would have lasted), else undefined. The outage policy asks it
   * only when Redis admits a call this instance's own record had denied.
   */
  async resetAt(keys: readonly string[]): Promise<readonly (ResetMark | undefined)[]> {
    const parts = partsBySlot(keys, this.cluster, MAX_BATCH_LIMITS);
    const answers = await Promise.all(
      parts.map((part) => {
        const markers = part.keys.map((key) => key + RESET_MARKER_SUFFIX);
        return this.enqueue('m', markers, [], NO_COSTS, markers.length, 0, part.slot);
      }),
    );
    // The script answers a marker in an outcome's four numbers: live, its time, its ms left, 0.
    const marks = new Map<string, ResetMark | undefined>();
    parts.forEach((part, index) => {
      part.keys.forEach((key, at) => {
        const { allowed, retryAfterMs, remaining } = answers[index][at];
        marks.set(key, allowed ? { atMs: retryAfterMs, leftMs: remaining } : undefined);
      });
    });
    return keys.map((key) => marks.get(key));
  }

  /** Whether the store opened its connection itself (`url`), so that `close()` closes it. */
  get ownsConnection(): boolean {
    return this.owned;
  }

  /** Stop the timeout watchdog and close the connection if the store opened it (`url`). */
  async close(): Promise<void> {
    this.closed = true;
    this.batcher.close();
    const transport = this.transport ?? (await this.opening?.catch(() => undefined));
    if (this.owned && transport !== undefined) await transport.close();
  }

  private call(
    op: 'e' | 'p' | 'r' | 'x',
    checks: readonly LimitCheck[],
  ): Promise<readonly LimitOutcome[]> {
    const count = checks.length;
    if (count === 0) return Promise.resolve([]);
    if (count > MAX_BATCH_LIMITS) {
      return Promise.reject(
        new RateLimitConfigError(
          `RedisStore: a call may have at most ${MAX_BATCH_LIMITS} limits (got ${count})`,
        ),
      );
    }
    // A marked refund names each limit's reset marker after its key; a refund, its own mark last.
    const marked = op === 'x';
    const refund = marked || op === 'r';
    const keys = new Array<string>((marked ? 2 * count : count) + (refund ? 1 : 0));
    const limits = new Array<LimitArguments>(count);
    // An evaluation or peek whose every limit costs 1 sends no costs (the usual call).
    let unitCosts = op === 'e' || op === 'p';
    let slot = 0;
    let algorithms = 0;
    try {
      for (let index = 0; index < count; index++) {
        const check = checks[index];
        if (marked) {
          keys[2 * index] = check.key;
          keys[2 * index + 1] = check.key + RESET_MARKER_SUFFIX;
        } else {
          keys[index] = check.key;
        }
        limits[index] = argumentsOf(check.limit);
        if (check.cost !== 1) unitCosts = false;
        algorithms |= algorithmBit(limits[index][0]);
      }
      if (refund) keys[keys.length - 1] = refundMarkOf(checks[0]);
      if (this.cluster) slot = slotOfCall(checks);
    } catch (error) {
      return Promise.reject(error);
    }
    const costs = unitCosts ? NO_COSTS : checks.map((check) => costOf(op, check));
    const outcomes = op === 'e' || op === 'p' ? count : 0;
    return this.enqueue(op, keys, limits, costs, outcomes, algorithms, slot);
  }

  private enqueue(
    op: ScriptCall['op'],
    keys: readonly string[],
    limits: readonly LimitArguments[],
    costs: readonly string[],
    outcomes: number,
    algorithms: number,
    slot: number,
  ): Promise<readonly LimitOutcome[]> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('RedisStore is closed'));
    if (keys.length === 0) return Promise.resolve([]);
    return new Promise<readonly LimitOutcome[]>((resolve, reject) => {
      const call: ScriptCall = { op, keys, limits, costs, outcomes, algorithms, resolve, reject };
      this.batcher.add(call, slot, this.clock?.());
    });
  }

  /** Use `transport`; when it loses its connection, what was in flight goes to the outage policy. */
  private adopt(transport: ScriptTransport): ScriptTransport {
    this.transport = transport;
    transport.onDown(() => this.batcher.connectionLost());
    return transport;
  }

  /** The connection of a store over a URL, opened on first use. */
  private open(): Promise<ScriptTransport> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('RedisStore is closed'));
    this.opening ??= this.createOwnedTransport().then(
      (transport) => this.adopt(transport),
      (error: unknown) => {
        this.opening = undefined;
        throw error;
      },
    );
    return this.opening;
  }

  /**
   * Loads the client package a store over a URL connects with (the Nest module does at bootstrap).
   * One that is not installed is a setup mistake, not an outage: taken for one, every call would be
   * decided by the outage policy, each instance on its own, for good.
   * @throws RateLimitConfigError naming the package to install.
   */
  async loadClientLibrary(): Promise<void> {
    if (!this.owned) return;
    if (this.library === 'ioredis') await clientPackage('ioredis');
    else await clientPackage('redis');
  }

  private async createOwnedTransport(): Promise<ScriptTransport> {
    const url = this.url as string;
    if (this.library === 'ioredis') {
      const { Redis } = await clientPackage('ioredis');
      // No offline queue: while Redis is down, calls fail at once and the outage policy decides.
      const client = new Redis(url, {
        lazyConnect: true,
        enableOfflineQueue: false,
        connectTimeout: Math.max(this.commandTimeoutMs, 1000),
        maxRetriesPerRequest: 1,
      });
      return createTransport(client);
    }
    const { createClient } = await clientPackage('redis');
    const client = createClient({
      url,
      disableOfflineQueue: true,
      socket: { connectTimeout: Math.max(this.commandTimeoutMs, 1000) },
    });
    return createTransport(client);
  }
}

/** The client package `name`, or a configuration error saying how to install it. */
async function clientPackage(name: 'redis'): Promise<typeof import('redis')>;
async function clientPackage(name: 'ioredis'): Promise<typeof import('ioredis')>;
async function clientPackage(name: 'redis' | 'ioredis'): Promise<unknown> {
  try {
    return name === 'redis' ? await import('redis') : await import('ioredis');
  } catch (error) {
    const other = name === 'redis' ? ", or pass library: 'ioredis' with ioredis installed" : '';
    throw new RateLimitConfigError(
      `RedisStore over a URL: the "${name}" package cannot be loaded (${error instanceof Error ? error.message : String(error)}). Fix: npm install ${name}${other}`,
    );
  }
}

const NO_COSTS: readonly string[] = [];
// A refund's mark: its first key (its hash tag: its slot), then an id no other refund ever has.
const REFUND_MARK = `!refund:${randomBytes(9).toString('base64url')}:`;
let refunds = 0;
const refundMarks = new WeakMap<LimitCheck, string>();

/** The mark of the refund whose first check is `check`: the same when that refund is sent again. */
function refundMarkOf(check: LimitCheck): string {
  let mark = refundMarks.get(check);
  if (mark === undefined) {
    mark = `${check.key}${REFUND_MARK}${(refunds++).toString(36)}`;
    refundMarks.set(check, mark);
  }
  return mark;
}

/** A check's cost as the script takes it; a refund names the admission it undoes, when known. */
function costOf(op: 'e' | 'p' | 'r' | 'x', check: LimitCheck): string {
  const cost = String(check.cost);
  return (op === 'r' || op === 'x') && check.admittedAtMs !== undefined
    ? `${cost}@${check.admittedAtMs}`
    : cost;
}

function argumentsOf(limit: BuiltInRateLimit): LimitArguments {
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

/** The two parameters of each algorithm, in the order its Lua twin takes them. */
const PARAMETER_NAMES: Readonly<Record<AlgorithmName, readonly [string, string]>> = {
  'fixed-window': ['limit', 'periodMs'],
  'sliding-window': ['limit', 'periodMs'],
  'token-bucket': ['capacity', 'refillPerSecond'],
  gcra: ['emissionIntervalMs', 'burst'],
  concurrency: ['limit', 'leaseMs'],
};

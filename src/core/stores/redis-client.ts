/*
 * The Redis clients RedisStore accepts, described by the few members it uses, so that neither
 * `redis` nor `ioredis` is needed at run time (or for the type declarations) by users who do not
 * use Redis. Each is wrapped in a `ScriptTransport`.
 */

/** A node-redis v5 client (`createClient()` of `redis` / `@redis/client`, what `@keyv/redis` wraps). */
export interface NodeRedisClientLike {
  sendCommand(args: string[], options?: NodeRedisCommandOptions): Promise<unknown>;
  connect(): Promise<unknown>;
  readonly isOpen: boolean;
  readonly isReady: boolean;
  on(event: string, listener: (error: unknown) => void): unknown;
  listenerCount(event: string): number;
  close?(): Promise<unknown>;
  destroy?(): void;
}

/** A node-redis v5 cluster client (`createCluster()`). */
export interface NodeRedisClusterLike {
  sendCommand(
    firstKey: string,
    isReadonly: boolean,
    args: string[],
    options?: NodeRedisCommandOptions,
  ): Promise<unknown>;
  connect(): Promise<unknown>;
  readonly isOpen: boolean;
  readonly masters: readonly unknown[];
  on(event: string, listener: (error: unknown) => void): unknown;
  listenerCount(event: string): number;
  close?(): Promise<unknown>;
}

/** An ioredis client: `new Redis()` or `new Cluster()`. */
export interface IoRedisLike {
  call(command: string, args: string[]): Promise<unknown>;
  /** Like `call`, with bulk strings answered as Buffers. */
  callBuffer(command: string, args: string[]): Promise<unknown>;
  connect(): Promise<unknown>;
  /** `wait` (lazyConnect, not yet connected), `connecting`, `ready`, `reconnecting`, `end`... */
  readonly status: string;
  readonly isCluster?: boolean;
  on(event: string, listener: (error: unknown) => void): unknown;
  listenerCount(event: string): number;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/** The per-command options of node-redis v5 that the store uses. */
export interface NodeRedisCommandOptions {
  /** RESP type code to JavaScript type: 36 (`$`, blob string) to `Buffer` for binary replies. */
  readonly typeMapping?: Readonly<Record<number, unknown>>;
}

// The script answers packed doubles: ask for the bulk string as bytes, not as UTF-8 text.
// 36 is RESP_TYPES.BLOB_STRING of node-redis (not imported: `redis` is an optional peer).
const BINARY_REPLY: NodeRedisCommandOptions = { typeMapping: { 36: Buffer } };

/** Any client RedisStore accepts. */
export type RedisClientLike = NodeRedisClientLike | NodeRedisClusterLike | IoRedisLike;

/**
 * Sends one script call. `args` start with the command name (EVALSHA or EVAL); a bulk string reply
 * comes back as a Buffer.
 */
export interface ScriptTransport {
  /** Whether keys of one call must share a Cluster slot. */
  readonly cluster: boolean;
  /**
   * `undefined` when the client can take a command now; otherwise a promise that settles when it
   * can (a connection the store started), or rejects at once when the client is reconnecting, so
   * a call never waits in an offline queue for a Redis that is down.
   */
  ready(): Promise<void> | undefined;
  /**
   * Whether the client is known to be disconnected (it reported an error or is reconnecting and has
   * not been ready since): then no command can be answered, and waiting out a timeout would only
   * delay the outage policy.
   */
  readonly down: boolean;
  /** `listener` runs every time the client becomes known to be disconnected. */
  onDown(listener: () => void): void;
  send(args: string[], firstKey: string): Promise<unknown>;
  /** Close the connection (only called for clients the store created itself). */
  close(): Promise<void>;
}

export class RedisNotReadyError extends Error {
  override readonly name = 'RedisNotReadyError';
}

// One transport per client, whatever the number of stores over it: each adds no listener of its own.
const transports = new WeakMap<object, BaseTransport>();

/** Wrap a client; `connect` overrides how a closed client is (re)opened, e.g. by `@keyv/redis`. */
export function createTransport(
  client: RedisClientLike,
  connect?: () => Promise<unknown>,
): ScriptTransport {
  if (client === null || typeof client !== 'object') {
    throw new TypeError('RedisStore: "client" must be a node-redis or ioredis client');
  }
  // A client without an error listener would crash the process on its first socket error
  // (EventEmitter throws "Unhandled error"); the store reports failures through its rejections.
  const shared = transports.get(client);
  if (shared !== undefined) return shared;
  let transport: BaseTransport;
  if (isIoRedis(client)) transport = new IoRedisTransport(client, connect);
  else if (isNodeRedisCluster(client)) transport = new NodeRedisClusterTransport(client, connect);
  else if (typeof client.sendCommand === 'function') {
    transport = new NodeRedisTransport(client, connect);
  } else {
    throw new TypeError('RedisStore: "client" must be a node-redis or ioredis client');
  }
  // Our own 'error' listener also keeps a client without one from crashing the process on its first
  // socket error (EventEmitter throws "Unhandled error"); the store reports failures through its
  // rejections. Both libraries emit 'error' and 'reconnecting' when the connection is lost, and
  // 'ready' when it is usable again.
  if (typeof client.on === 'function') {
    client.on('error', () => transport.markDown());
    client.on('reconnecting', () => transport.markDown());
    client.on('end', () => transport.markDown());
    client.on('ready', () => transport.markUp());
  }
  transports.set(client, transport);
  return transport;
}

function isIoRedis(client: RedisClientLike): client is IoRedisLike {
  return (
    typeof (client as IoRedisLike).call === 'function' &&
    typeof (client as IoRedisLike).callBuffer === 'function' &&
    typeof (client as IoRedisLike).status === 'string'
  );
}

function isNodeRedisCluster(client: RedisClientLike): client is NodeRedisClusterLike {
  return 'masters' in client && typeof client.sendCommand === 'function';
}

/** Shared logic: open a closed client once at a time; refuse while it is reconnecting. */
abstract class BaseTransport implements ScriptTransport {
  abstract readonly cluster: boolean;
  private opening: Promise<void> | undefined;
  /** Until the client has been seen ready once, "busy" is its first connection, not an outage. */
  private everReady = false;
  private abandonOpening: ((error: Error) => void) | undefined;
  down = false;
  private readonly downListeners: (() => void)[] = [];

  constructor(private readonly connectOverride: (() => Promise<unknown>) | undefined) {}

  onDown(listener: () => void): void {
    this.downListeners.push(listener);
  }

  markDown(): void {
    if (this.state() === 'ready') return; // an error on a connection that is still usable
    this.down = true;
    this.abandonOpening?.(new RedisNotReadyError('Redis client could not connect'));
    for (const listener of this.downListeners) listener();
  }

  markUp(): void {
    this.down = false;
  }

  protected abstract state(): 'ready' | 'closed' | 'busy';
  protected abstract connectClient(): Promise<unknown>;
  abstract send(args: string[], firstKey: string): Promise<unknown>;
  abstract close(): Promise<void>;

  ready(): Promise<void> | undefined {
    const state = this.state();
    if (state === 'ready') {
      this.everReady = true;
      this.down = false;
      return undefined;
    }
    if (this.down) {
      return Promise.reject(new RedisNotReadyError('Redis client is not connected'));
    }
    if (this.opening !== undefined) return this.opening;
    if (state === 'busy') {
      // A first connection in progress: let the client queue the command (the store's timeout
      // still bounds it).
      if (!this.everReady) return undefined;
      return Promise.reject(new RedisNotReadyError('Redis client is not connected (reconnecting)'));
    }
    const opening = (this.connectOverride ?? (() => this.connectClient()))();
    // A connection attempt that fails ends the wait at once (the client may go on retrying).
    const failed = new Promise<never>((_, reject) => (this.abandonOpening = reject));
    this.opening = Promise.race([opening, failed]).then(
      () => {
        this.opening = this.abandonOpening = undefined;
      },
      (error: unknown) => {
        this.opening = this.abandonOpening = undefined;
        throw error;
      },
    );
    return this.opening;
  }
}

class NodeRedisTransport extends BaseTransport {
  readonly cluster = false;

  constructor(
    private readonly client: NodeRedisClientLike,
    connect: (() => Promise<unknown>) | undefined,
  ) {
    super(connect);
  }

  protected state(): 'ready' | 'closed' | 'busy' {
    if (this.client.isReady) return 'ready';
    return this.client.isOpen ? 'busy' : 'closed';
  }

  protected connectClient(): Promise<unknown> {
    return this.client.connect();
  }

  send(args: string[]): Promise<unknown> {
    return this.client.sendCommand(args, BINARY_REPLY);
  }

  async close(): Promise<void> {
    // A client still (re)connecting has nothing to finish: stop its reconnection attempts now.
    if (this.client.isReady) await this.client.close?.();
    else if (this.client.isOpen) this.client.destroy?.();
  }
}

class NodeRedisClusterTransport extends BaseTransport {
  readonly cluster = true;

  constructor(
    private readonly client: NodeRedisClusterLike,
    connect: (() => Promise<unknown>) | undefined,
  ) {
    super(connect);
  }

  // The cluster client reconnects its node clients by itself; its commands are bounded by the
  // store's timeout.
  protected state(): 'ready' | 'closed' | 'busy' {
    return this.client.isOpen ? 'ready' : 'closed';
  }

  protected connectClient(): Promise<unknown> {
    return this.client.connect();
  }

  send(args: string[], firstKey: string): Promise<unknown> {
    return this.client.sendCommand(firstKey, false, args, BINARY_REPLY);
  }

  async close(): Promise<void> {
    if (this.client.isOpen) await this.client.close?.();
  }
}

class IoRedisTransport extends BaseTransport {
  readonly cluster: boolean;

  constructor(
    private readonly client: IoRedisLike,
    connect: (() => Promise<unknown>) | undefined,
  ) {
    super(connect);
    this.cluster = client.isCluster === true;
  }

  protected state(): 'ready' | 'closed' | 'busy' {
    const status = this.client.status;
    if (status === 'ready') return 'ready';
    return status === 'wait' || status === 'end' ? 'closed' : 'busy';
  }

  protected connectClient(): Promise<unknown> {
    return this.client.connect();
  }

  send(args: string[]): Promise<unknown> {
    // ioredis flattens array arguments and finds EVAL/EVALSHA keys itself (Cluster routing).
    return this.client.callBuffer(args[0], args.slice(1));
  }

  async close(): Promise<void> {
    if (this.client.status === 'ready') await this.client.quit();
    else if (this.client.status !== 'end') this.client.disconnect();
  }
}

/**
 * When `error` says the server refuses what every call needs, what to tell the operator; else
 * `undefined`: it refuses to run scripts (a Redis-compatible server with scripting disabled or
 * without it, or an ACL that forbids EVAL/EVALSHA), or an ACL user may not access the store's keys.
 * Such a server will never answer a call, so the cause and the fix must be named.
 */
export function serverRefusal(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : String(error);
  // Redis 7: "NOPERM this user has no permissions to access one of the keys used as arguments".
  if (/NOPERM.*\bkeys?\b/i.test(message)) {
    return `the Redis user may not access the store's keys (${message}). Give its ACL a key pattern that covers the store's prefix (default "mcprl:", e.g. ~mcprl:*)`;
  }
  // Redis 5 and older: a script's `SET … KEEPTTL` (the fixed window's update) fails as a syntax error.
  if (/\bscript\b.*\bsyntax error/i.test(message)) {
    return `the Redis server rejects a command of the store's scripts (${message}), as servers older than Redis 6.0 reject SET … KEEPTTL. RedisStore needs Redis 6.0 or later (or a compatible server of that level)`;
  }
  if (!/unknown command|script(ing)?\b.*\bdisabled|disabled.*\bscript|NOPERM/i.test(message)) {
    return undefined;
  }
  return `the Redis server refuses Lua scripts (${message}). RedisStore runs every decision as one atomic script (EVALSHA/EVAL): enable scripting on the server (Valkey: do not disable Lua; an ACL user needs +evalsha +eval +script), or use a Redis-compatible server that runs scripts, or another store`;
}

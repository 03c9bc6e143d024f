import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { RateLimitConfigError } from './limits.js';

/** Longest key part kept as it is; longer (or ill-formed) parts are replaced by their hash. */
export const MAX_PART_LENGTH = 256;

/**
 * Encode one user-influenced key part so that the parts of a key can never be confused:
 * `<length>:<text>` is self-delimiting, so `"a:b" + "c"` and `"a" + "b:c"` give different keys.
 * A huge part, or one with lone surrogates (which UTF-8 would blur together), becomes `#<sha256>`
 * of its UTF-16 code units: bounded memory, still collision-free in practice.
 *
 * A storage key is `<prefix>{<subject>}<h|n><scope or namespace><limit id>`, every user-influenced
 * part encoded here. The subject sits in a Redis hash tag, so the limits of one subject share one
 * Redis Cluster slot.
 */
export function encodeKeyPart(part: string): string {
  if (part.length <= MAX_PART_LENGTH && part.isWellFormed()) return `${part.length}:${part}`;
  return `#${createHash('sha256').update(Buffer.from(part, 'utf16le')).digest('base64url')}`;
}

/** What a request looks like to the default subject resolver (Express, Fastify and others). */
export interface RequestLike {
  readonly user?: unknown;
  readonly ip?: unknown;
  readonly socket?: { readonly remoteAddress?: unknown } | null;
  /** Fastify's Node request, where a Nest middleware sets `user` (it gets the Node request). */
  readonly raw?: { readonly user?: unknown } | null;
}

/**
 * The default subject of a call: the authenticated user's id as `user:<id>`; else the client IP
 * (`request.ip`, so the framework's trust-proxy setting applies; the socket's address only for a
 * request without an `ip` of its own, such as a plain Node request) as `ip:<address>`; else
 * `undefined`: the caller cannot be identified.
 *
 * The user is `request.user` (on Fastify, `request.raw.user` when a middleware set it there). Its id
 * is `.id`, else `.sub`, else `.userId`, else `._id` (a MongoDB document); a user that is itself a
 * non-empty string, a finite number or a bigint is its own id. An id is a non-empty string, a finite
 * number, a bigint, a Buffer (its bytes, in hex), or an object with a string form of its own
 * (`toHexString()`, as a MongoDB `ObjectId`, or its own `toString()`). No user (`undefined`, `null`, `false`, an empty plain object
 * `{}`) means the IP. Anything else throws a `RateLimitConfigError`: an id without a string form, a
 * user whose only ids are empty strings, a user object with none of these ids, a user of another
 * kind (`true`): a user must never be silently keyed by an address instead.
 *
 * An address that is not an IP address (after its port, brackets and zone are taken off: see
 * {@link normalizeIp}) cannot key a caller either: `undefined`.
 */
export function defaultSubject(request: RequestLike | undefined | null): string | undefined {
  const user = request?.user ?? request?.raw?.user;
  const id = userIdOf(user);
  if (id !== undefined) return `user:${id}`;
  const ip = clientIp(request);
  if (typeof ip !== 'string' || ip.length === 0) return undefined;
  // Calls come in runs from one address (a keep-alive connection): the subject of the last one is
  // reused, the same string, whose hash the store's Map has already computed.
  if (ip !== lastIp) {
    const address = normalizeIp(ip);
    lastIpSubject = address === undefined ? undefined : `ip:${address}`;
    lastIp = ip;
  }
  return lastIpSubject;
}

/** The fields a user object's id is read from, in this order. */
const USER_ID_FIELDS = ['id', 'sub', 'userId', '_id'] as const;

/**
 * The id of `request.user`, `undefined` when there is no user; throws on a user that cannot key a
 * rate limit. Keyed by its address instead, such a user would get a quota per address, shared with
 * every other user and anonymous caller there.
 */
function userIdOf(user: unknown): string | undefined {
  // `false` is how Passport (and auth guards built on it) say "not authenticated".
  if (user === undefined || user === null || user === false) return undefined;
  if (typeof user !== 'object') {
    if (typeof user === 'string' && user.length === 0) throw emptyUserId();
    return idOf(user, 'request.user');
  }
  const record = user as Record<string, unknown>;
  for (const field of USER_ID_FIELDS) {
    const id = idOf(record[field], `request.user.${field}`);
    if (id !== undefined) return id;
  }
  if (hasEmptyId(record)) throw emptyUserId();
  if (isEmptyPlainObject(record)) return undefined;
  throw new RateLimitConfigError(
    `request.user has no id (read ${USER_ID_FIELDS.join(', ')}): it cannot key a rate limit; give the user one of these ids, or choose the subject with the resolveSubject option`,
  );
}

// Apart from userIdOf: an arrow there would make V8 allocate its captured scope on every call.
function hasEmptyId(record: Record<string, unknown>): boolean {
  return USER_ID_FIELDS.some((field) => record[field] === '');
}

function emptyUserId(): RateLimitConfigError {
  return new RateLimitConfigError(
    `request.user has an empty id (${USER_ID_FIELDS.join(', ')} or the user itself is ""): it cannot key a rate limit; give the user a non-empty id, or choose the subject with the resolveSubject option`,
  );
}

/** `{}` (or `Object.create(null)`): what some auth layers set for "nobody". */
function isEmptyPlainObject(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value);
  return (
    (prototype === Object.prototype || prototype === null) && Reflect.ownKeys(value).length === 0
  );
}

let lastIp = '';
let lastIpSubject: string | undefined;

/**
 * `request.ip` when the request has one (Express and Fastify: their trust-proxy setting applies;
 * `undefined` once the socket is gone), else the socket's address.
 */
function clientIp(request: RequestLike | undefined | null): unknown {
  if (request === null || typeof request !== 'object') return undefined;
  // `ip` first: asking `'ip' in request` of every request would walk Express's long prototype
  // chain once more on the guard's path; only a request without an ip needs the answer.
  const ip = request.ip;
  if (ip !== undefined || 'ip' in request) return ip;
  return request.socket?.remoteAddress;
}

/** A user id as a string, undefined when absent; throws on one that has no usable string form. */
function idOf(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.length > 0 ? value : undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint') return String(value);
  // Its bytes: Buffer's toString() decodes UTF-8 and turns every byte it cannot decode into one
  // same character, so that different binary ids (a BINARY(16) UUID) would be one subject.
  if (Buffer.isBuffer(value)) return value.length > 0 ? value.toString('hex') : undefined;
  if (typeof value === 'object' && !Array.isArray(value)) {
    const text = ownStringForm(value);
    if (text !== undefined) return text;
  }
  throw new RateLimitConfigError(
    `${where} cannot key a rate limit: ${describeId(value)} has no string form of its own (use a string, a number, a bigint or an object with toHexString() or its own toString(); or the resolveSubject option)`,
  );
}

/** `toHexString()` (MongoDB ObjectId), else a `toString()` that is not Object's own. */
function ownStringForm(value: object): string | undefined {
  const hex = (value as { toHexString?: unknown }).toHexString;
  if (typeof hex === 'function') {
    const text: unknown = hex.call(value);
    if (typeof text === 'string' && text.length > 0) return text;
  }
  const toString = (value as { toString?: unknown }).toString;
  if (typeof toString === 'function' && toString !== Object.prototype.toString) {
    const text: unknown = toString.call(value);
    if (typeof text === 'string' && text.length > 0) return text;
  }
  return undefined;
}

function describeId(value: unknown): string {
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return `a ${typeof value}${typeof value === 'number' ? ` (${String(value)})` : ''}`;
}

/**
 * The address to key a client by, or `undefined` when `address` is not an IP address (a caller that
 * cannot be identified). A port is taken off (`203.0.113.7:51234`, `[2001:db8::1]:443`: proxies
 * such as Azure's and IIS ARR write one into X-Forwarded-For, and a new connection must not be a new
 * client), and so are brackets and an IPv6 zone. IPv4 is kept as it is, and so is an IPv4 address
 * inside IPv6 (IPv4-mapped `::ffff:a.b.c.d`, and the IPv4 clients of a NAT64/SIIT translator:
 * `64:ff9b::a.b.c.d`, `::ffff:0:a.b.c.d`, and any address in the local-use `64:ff9b:1::/48`). Other IPv6 is grouped by its /64 prefix, since one
 * client usually owns a whole /64 and could rotate addresses inside it.
 */
export function normalizeIp(address: string): string | undefined {
  const host = hostOf(address);
  const version = isIP(host);
  if (version === 4) return host;
  if (version !== 6) return undefined;
  const groups = expandIpv6(host);
  if (embedsIpv4(groups)) {
    return `${groups[6] >> 8}.${groups[6] & 0xff}.${groups[7] >> 8}.${groups[7] & 0xff}`;
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
}

/** `[v6]:port`, `[v6]` or `a.b.c.d:port` without the brackets and port; a zone (`%eth0`) dropped. */
function hostOf(address: string): string {
  const bracketed = /^\[([^\]]*)\](?::\d{1,5})?$/.exec(address);
  const ipv4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(address);
  const host = bracketed?.[1] ?? ipv4WithPort?.[1] ?? address;
  const zone = host.indexOf('%');
  return zone === -1 ? host : host.slice(0, zone);
}

/**
 * Whether IPv6 groups carry an IPv4 client in their last 32 bits: IPv4-mapped (`::ffff:0:0/96`),
 * IPv4-translated (SIIT, `::ffff:0:0:0/96`), NAT64's well-known prefix (`64:ff9b::/96`) or any
 * address of the local-use translation prefix (`64:ff9b:1::/48`, RFC 8215, where operators take
 * their own /96 from). A translator puts every IPv4 client in one /64: grouped by it, they would
 * all share one quota. The local-use /48 is not routed on the Internet, so no native IPv6 client
 * can get more subjects from it.
 */
function embedsIpv4(groups: readonly number[]): boolean {
  const [a, b, c, d, e, f] = groups;
  if (a === 0x64 && b === 0xff9b && c === 1) return true;
  if (c !== 0 || d !== 0) return false;
  const zeroFirst32 = a === 0 && b === 0;
  return (
    (zeroFirst32 && e === 0 && f === 0xffff) ||
    (zeroFirst32 && e === 0xffff && f === 0) ||
    (a === 0x64 && b === 0xff9b && e === 0 && f === 0)
  );
}

/** The eight 16-bit groups of a valid IPv6 address (which may end in dotted IPv4). */
function expandIpv6(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros =
    tail === undefined
      ? []
      : new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  return [...headGroups, ...zeros, ...tailGroups].map((group) => parseInt(group, 16));
}

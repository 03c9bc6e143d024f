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
 * The default subject of a call: the authenticated user id (`request.user.id`, else `.sub`, else
 * `.userId`; on Fastify, `request.raw.user` when a middleware set it there) as `user:<id>`; else
 * the client IP (`request.ip`, so the framework's trust-proxy
 * setting applies; the socket's address only for a request without an `ip` of its own, such as a
 * plain Node request) as `ip:<address>`; else `undefined`: the caller cannot be identified.
 *
 * A user id is a non-empty string, a finite number, a bigint, or an object with a string form of
 * its own (`toHexString()`, as a MongoDB `ObjectId`, or its own `toString()`). Any other id, and a
 * user whose only ids are empty strings, throws a `RateLimitConfigError`: a user must never be
 * silently keyed by an address instead.
 */
export function defaultSubject(request: RequestLike | undefined | null): string | undefined {
  const user = request?.user ?? request?.raw?.user;
  if (user !== null && typeof user === 'object') {
    const record = user as Record<string, unknown>;
    const id = idOf(record.id, 'id') ?? idOf(record.sub, 'sub') ?? idOf(record.userId, 'userId');
    if (id !== undefined) return `user:${id}`;
    if (record.id === '' || record.sub === '' || record.userId === '') {
      // Keyed by its address instead, this user would get a quota per address, shared with the
      // anonymous callers there.
      throw new RateLimitConfigError(
        'request.user has an empty id (id, sub or userId is ""): it cannot key a rate limit; give the user a non-empty id, or choose the subject with the resolveSubject option',
      );
    }
  }
  const ip = clientIp(request);
  if (typeof ip !== 'string' || ip.length === 0) return undefined;
  // Calls come in runs from one address (a keep-alive connection): the subject of the last one is
  // reused, the same string, whose hash the store's Map has already computed.
  if (ip !== lastIp) {
    lastIpSubject = `ip:${normalizeIp(ip)}`;
    lastIp = ip;
  }
  return lastIpSubject;
}

let lastIp = '';
let lastIpSubject = '';

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
function idOf(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.length > 0 ? value : undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint') return String(value);
  if (typeof value === 'object' && !Array.isArray(value)) {
    const text = ownStringForm(value);
    if (text !== undefined) return text;
  }
  throw new RateLimitConfigError(
    `request.user.${field} cannot key a rate limit: ${describeId(value)} has no string form of its own (use a string, a number, a bigint or an object with toHexString() or its own toString(); or the resolveSubject option)`,
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
 * The address to key a client by: IPv4 as it is (IPv4-mapped IPv6 unwrapped), IPv6 grouped by its
 * /64 prefix, since one client usually owns a whole /64 and could rotate addresses inside it.
 * Anything that is not an IP address is returned unchanged (it is still encoded safely).
 */
export function normalizeIp(address: string): string {
  const withoutZone = address.includes('%') ? address.slice(0, address.indexOf('%')) : address;
  const version = isIP(withoutZone);
  if (version === 4) return withoutZone;
  if (version !== 6) return address;
  const groups = expandIpv6(withoutZone);
  // ::ffff:a.b.c.d (IPv4-mapped): the client is an IPv4 client.
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return `${groups[6] >> 8}.${groups[6] & 0xff}.${groups[7] >> 8}.${groups[7] & 0xff}`;
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
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

import type { HttpServer } from '@nestjs/common';
import type { LimitResult } from '../core/engine.js';
import { holdsSlots } from '../core/limit-set.js';
import { BuiltInRateLimit } from '../core/limits.js';

/** One evaluated decision of a request: its results and whether it was the message-level one. */
export interface HeaderSource {
  readonly results: readonly LimitResult[];
  readonly messageLevel: boolean;
}

/**
 * The `RateLimit-Policy` and `RateLimit` field values of draft-ietf-httpapi-ratelimit-headers-10
 * for the decisions of one request (message-level and handler-level): one list member per limit
 * that reports a quota, e.g. `"fw-5-10";q=5;w=10` and `"fw-5-10";r=3;t=7`. Undefined when no limit
 * reports one. A `ConcurrencyLimit` is left out: these fields say "q calls per w seconds", and a
 * client pacing itself by them would wait a whole lease for a slot that came back when its call
 * ended (as in tool results' `_meta`).
 */
export function rateLimitHeaderValues(
  sources: readonly HeaderSource[],
): { policy: string; remaining: string } | undefined {
  const policy: string[] = [];
  const remaining: string[] = [];
  for (const { results, messageLevel } of sources) {
    // A loop, not forEach: its callback would make every admitted request allocate a context.
    for (let index = 0; index < results.length; index++) {
      const result = results[index];
      if (result.quota === undefined || holdsSlots(result.limiter)) continue;
      const name = policyName(result, index, messageLevel);
      const quota = sfInteger(Math.floor(result.quota));
      const limit = result.limiter;
      const windowPart =
        limit instanceof BuiltInRateLimit
          ? `;w=${sfInteger(Math.max(1, Math.ceil(limit.policy.windowSeconds)))}`
          : '';
      policy.push(`${name};q=${quota}${windowPart}`);
      const left = sfInteger(Math.floor(result.remaining ?? 0));
      const resetPart =
        result.resetAfterMs === undefined || !Number.isFinite(result.resetAfterMs)
          ? ''
          : `;t=${sfInteger(Math.ceil(result.resetAfterMs / 1000))}`;
      remaining.push(`${name};r=${left}${resetPart}`);
    }
  }
  if (policy.length === 0) return undefined;
  return { policy: policy.join(', '), remaining: remaining.join(', ') };
}

/**
 * A structured-field integer (RFC 8941: at most 15 digits) from a count or seconds: never below 0,
 * and a huge one (a limit that never refills, a custom limiter's "never") is the largest there is,
 * not JavaScript's `1e+21`, which would make a client's parser reject the whole field.
 */
function sfInteger(value: number): number {
  return Math.min(MAX_SF_INTEGER, Math.max(0, value));
}

const MAX_SF_INTEGER = 999_999_999_999_999;

/** A structured-field string naming the limit: its namespace, else its settings. */
function policyName(result: LimitResult, index: number, messageLevel: boolean): string {
  const limit = result.limiter;
  if (!(limit instanceof BuiltInRateLimit)) {
    return structuredString(`${messageLevel ? 'msg-' : ''}custom-${index + 1}`);
  }
  // A built-in limit's name never changes: made once (per level), not on every admitted call.
  let names = builtInPolicyNames.get(limit);
  if (names === undefined) {
    const base = limit.namespace ?? limit.id;
    names = { handler: structuredString(base), message: structuredString(`msg-${base}`) };
    builtInPolicyNames.set(limit, names);
  }
  return messageLevel ? names.message : names.handler;
}

const builtInPolicyNames = new WeakMap<BuiltInRateLimit, { handler: string; message: string }>();

/** An sf-string: printable ASCII, with `"` and `\` escaped. */
function structuredString(name: string): string {
  const printable = name.replace(/[^\x20-\x7e]/g, '_').replace(/[\\"]/g, (char) => `\\${char}`);
  return `"${printable}"`;
}

/** Sets a response header through Nest's HTTP adapter (Express, Fastify), or the Node response. */
export function setResponseHeader(
  adapter: HttpServer | undefined,
  response: unknown,
  name: string,
  value: string,
): void {
  if (adapter !== undefined) {
    adapter.setHeader(response, name, value);
    // Fastify keeps the header on its reply until reply.send(); a handler that writes the Node
    // response itself (MCP-Nest's transport does) would lose it, so set it there as well.
    const raw = (response as { raw?: { setHeader?: unknown; headersSent?: boolean } }).raw;
    if (typeof raw?.setHeader === 'function' && raw.headersSent !== true) {
      (raw.setHeader as (name: string, value: string) => void).call(raw, name, value);
    }
    return;
  }
  const node = response as { setHeader?: (name: string, value: string) => void };
  node.setHeader?.(name, value);
}

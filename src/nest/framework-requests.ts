import type { HttpAdapterHost } from '@nestjs/core';
import { rememberFrameworkRequest } from '../mcp/call.js';
import { rememberResponse } from './slot-hold.js';

/** The Fastify instances whose requests are already linked (one hook each, however many guards). */
const linked = new WeakSet<object>();

interface HookHost {
  addHook(
    name: 'onRequest',
    hook: (request: unknown, reply: unknown, done: () => void) => void,
  ): unknown;
}

/**
 * On Fastify, MCP-Nest hands its tools the Node request (`request.raw`), while an auth guard sets
 * `user` (and Fastify works out `ip`, trust proxy included) on Fastify's request. Every request is
 * linked to its Node request as it arrives (an `onRequest` hook), so a tool call is keyed by the
 * same user and IP whatever guards run on the MCP endpoint: without the link it would be keyed by
 * the socket's address, one quota per address instead of per user. Its response is noted too, so
 * that a tool call's `ConcurrencyLimit` slots are tied to it (slot-hold.ts). Express needs nothing
 * (its request is the Node request, and has its response as `res`).
 */
export function linkFrameworkRequests(adapterHost: HttpAdapterHost | undefined): void {
  const adapter = adapterHost?.httpAdapter;
  if (adapter === undefined || adapter.getType() !== 'fastify') return;
  const instance = adapter.getInstance<Partial<HookHost> & object>();
  if (linked.has(instance) || typeof instance.addHook !== 'function') return;
  instance.addHook('onRequest', (request, reply, done) => {
    rememberFrameworkRequest(request);
    rememberResponse(request, reply);
    done();
  });
  linked.add(instance);
}

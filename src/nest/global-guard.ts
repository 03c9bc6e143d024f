import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { McpRateLimitGuard } from './guard.js';
import { boundGuards, isRateLimitGuard } from './guard-order.js';

/**
 * The guard `registerGlobally` registers (`APP_GUARD`). Nest runs global guards in the order of
 * their modules, so this one may run before the app's own global guards, e.g. an auth guard that
 * sets `request.user`: deciding there would key every call by IP, and the users behind one address
 * would share one quota. So a handler that binds {@link McpRateLimitGuard} itself (`@RateLimit()`,
 * `@LimitMcpMessages()`, `@UseMcpRateLimit()`: every limited handler) is passed here and decided
 * by that bound run, after every global guard; it is counted once, there. Any other handler goes
 * to McpRateLimitGuard as before (no limits: passed; a context it cannot decide: refused when
 * limits are declared; HTTP requests linked for MCP-Nest tools on other HTTP adapters).
 */
@Injectable()
export class McpRateLimitGlobalGuard implements CanActivate {
  constructor(private readonly guard: McpRateLimitGuard) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (bindsRateLimitGuard(context)) return true;
    return this.guard.canActivate(context);
  }
}

/**
 * Whether the handler of `context` (or its class) binds McpRateLimitGuard itself: its calls are
 * decided by that bound run, which Nest makes after every global guard (auth), not by a global one.
 */
export function bindsRateLimitGuard(context: ExecutionContext): boolean {
  return bindsGuard(context.getHandler()) || bindsGuard(context.getClass());
}

/**
 * Whether a handler or class binds McpRateLimitGuard, by handler or class: read once, as Nest reads
 * a handler's guards once, when it builds the handler's route (a guard bound later never runs).
 */
const bindingGuard = new WeakMap<object, boolean>();

/** Whether Nest runs McpRateLimitGuard on this handler or class of its own (inherited included). */
function bindsGuard(target: object): boolean {
  let binds = bindingGuard.get(target);
  if (binds === undefined) {
    binds = declaresGuard(target);
    bindingGuard.set(target, binds);
  }
  return binds;
}

function declaresGuard(target: object): boolean {
  return boundGuards(target).some(isRateLimitGuard);
}

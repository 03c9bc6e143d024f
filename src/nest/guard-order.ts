import type { HandlerPlans } from './bootstrap-check.js';
import { McpRateLimitGuard } from './guard.js';
import { NEST_GUARDS } from './tokens.js';

/**
 * A warning for each limited handler whose own guards include one that Nest runs after
 * McpRateLimitGuard: the class's guards before the method's, each list in order, where the
 * decorator written lowest is applied first (`@UseGuards(AuthGuard)` above `@RateLimit()` binds
 * ours first). An auth guard there has not set `request.user` when the limit decides, so its calls
 * are keyed by address: users behind one address share a quota, one user with many addresses gets
 * many. A warning, not a refusal: a limit may be meant to run before an expensive guard.
 */
export function guardOrderWarnings(plans: HandlerPlans): string[] {
  const warnings: string[] = [];
  for (const [type, byHandler] of plans) {
    for (const [handler, plan] of byHandler) {
      if (plan === null) continue;
      const after = guardsAfterOurs(type, handler);
      if (after.length === 0) continue;
      warnings.push(
        `${plan.owner}: ${after.join(', ')} run${after.length === 1 ? 's' : ''} after the rate-limit guard, so a user it sets is not known when the limit decides (calls are keyed by address). Fix: write @RateLimit() above @UseGuards(...) on the method, and on the class when @RateLimit() is on the class while the guard is on the method (or register the auth guard globally); ignore this if the limit is meant to run first`,
      );
    }
  }
  return warnings;
}

/** The names of the guards Nest runs after ours on this handler (none when ours is not bound). */
function guardsAfterOurs(type: object, handler: object): string[] {
  const guards = [...boundGuards(type), ...boundGuards(handler)];
  const ours = guards.findIndex(isRateLimitGuard);
  if (ours < 0) return [];
  return guards
    .slice(ours + 1)
    .filter((guard) => !isRateLimitGuard(guard))
    .map(nameOf);
}

/** The guards `@UseGuards()` (and our decorators) bound to a class or handler, in Nest's order. */
export function boundGuards(target: object): readonly unknown[] {
  const guards = Reflect.getMetadata(NEST_GUARDS, target) as readonly unknown[] | undefined;
  return guards ?? [];
}

/** Whether a bound guard is McpRateLimitGuard (bound as its class or as an instance). */
export function isRateLimitGuard(guard: unknown): boolean {
  return guard === McpRateLimitGuard || guard instanceof McpRateLimitGuard;
}

function nameOf(guard: unknown): string {
  if (typeof guard === 'function') return guard.name === '' ? 'a guard' : guard.name;
  const type = (guard as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof type === 'string' && type !== 'Object' ? type : 'a guard';
}

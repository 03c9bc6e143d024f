import { RATE_LIMITS_METADATA, SKIP_RATE_LIMIT_METADATA } from './tokens.js';

/** A class or a method, as Nest hands them to guards (`getClass()`, `getHandler()`). */
type Named = object & { readonly name: string };

/** One method of a class of the app (bootstrap-check.ts's `AppMethod`). */
interface Method {
  readonly type: Named;
  readonly methodName: string;
  readonly handler: Named;
}

/**
 * Which of a handler's `@RateLimit()` declarations hold: the nearest declaration wins, as with
 * Nest's own method-over-class metadata. A method's `@SkipRateLimit()` exempts it from everything;
 * its own `@RateLimit()` holds whatever its class says. The class-level limits hold unless the
 * nearest class of the chain that declares `@RateLimit()` or `@SkipRateLimit()` declares the skip:
 * a subclass's own limit is not switched off by a base class made for unlimited endpoints.
 */
export function limitsThatApply(
  type: Named,
  handler: Named,
): { readonly ofClass: boolean; readonly ofMethod: boolean } {
  if (Reflect.getMetadata(SKIP_RATE_LIMIT_METADATA, handler) === true) {
    return { ofClass: false, ofMethod: false };
  }
  return { ofClass: !classSkips(type), ofMethod: true };
}

function classSkips(type: Named): boolean {
  for (let at: unknown = type; typeof at === 'function'; at = Object.getPrototypeOf(at)) {
    if (Reflect.getOwnMetadata(SKIP_RATE_LIMIT_METADATA, at) === true) return true;
    if (Reflect.hasOwnMetadata(RATE_LIMITS_METADATA, at)) return false;
  }
  return false;
}

/** Whether a `@RateLimit()` applies to this method (on it or its class, and not skipped). */
export function declaresLimits({ type, handler }: Pick<Method, 'type' | 'handler'>): boolean {
  const applies = limitsThatApply(type, handler);
  return (
    (applies.ofMethod && Reflect.hasMetadata(RATE_LIMITS_METADATA, handler)) ||
    (applies.ofClass && Reflect.hasMetadata(RATE_LIMITS_METADATA, type))
  );
}

// Validation of the settings of built-in limits: every bad value is a RateLimitConfigError that
// names the class, the field and what is expected.

/**
 * Thrown when a limit, a limit set or an option is configured with a value that makes no sense, or
 * when a call carries a value no limit can count (a negative cost). The base of every configuration
 * error of this library: catch this one class.
 */
export class RateLimitConfigError extends Error {
  override readonly name: string = 'RateLimitConfigError';
}

export type FieldCheck = 'positiveInteger' | 'positiveNumber';

export function checkNumber(
  className: string,
  field: string,
  value: unknown,
  check: FieldCheck,
): void {
  // Above 2^53 a count stops growing (x + 1 === x): an exhausted limit would admit forever.
  const ok =
    typeof value === 'number' &&
    value > 0 &&
    value <= Number.MAX_SAFE_INTEGER &&
    (check === 'positiveNumber' || Number.isInteger(value));
  if (!ok) {
    const what = check === 'positiveInteger' ? 'a positive integer' : 'a positive number';
    throw new RateLimitConfigError(
      `${className}: "${field}" must be ${what} up to 2^53 - 1 (got ${show(value)})`,
    );
  }
}

/** A duration the algorithms compute with: finite (a window start of NaN matches no state). */
export function checkMs(className: string, what: string, ms: number): number {
  if (!(Number.isFinite(ms) && ms > 0)) {
    throw new RateLimitConfigError(
      `${className}: ${what} must come to a finite positive number of milliseconds (got ${ms})`,
    );
  }
  return ms;
}

export function checkCost(className: string, cost: unknown, integer: boolean): void {
  const ok =
    typeof cost === 'number' &&
    Number.isFinite(cost) &&
    cost >= 0 &&
    (!integer || Number.isInteger(cost));
  if (!ok) {
    const what = integer ? 'a non-negative integer' : 'a non-negative finite number';
    throw new RateLimitConfigError(`${className}: "cost" must be ${what} (got ${show(cost)})`);
  }
}

/**
 * Refuses a key `given` in options that is none of `known`: a mistyped option (`fallBack`,
 * `onStoreErorr`) would otherwise be ignored, and its default (often the more generous choice)
 * would apply without a word.
 */
export function refuseUnknownOptions(
  owner: string,
  given: readonly string[],
  known: readonly string[],
): void {
  for (const key of given) {
    if (!known.includes(key)) {
      throw new RateLimitConfigError(
        `${owner}: unknown option "${key}" (expected ${known.join(', ')})`,
      );
    }
  }
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  return String(value);
}

/**
 * A storage key prefix, checked: Redis Cluster hashes a key by its first `{…}`, and an empty
 * `{}` there makes it hash the whole key instead, which would put the keys of one call (and each
 * key's reset mark) in different slots. A non-empty hash tag, such as `{app}:`, is fine.
 */
export function checkKeyPrefix(prefix: string): string {
  const open = prefix.indexOf('{');
  if (open >= 0 && prefix[open + 1] === '}') {
    throw new RateLimitConfigError(
      `the key prefix "${prefix}" begins a hash tag with an empty "{}", so Redis Cluster would hash each key whole and put the keys of one call in different slots; remove the "{}" (a hash tag with a name, such as "{app}:", is fine)`,
    );
  }
  return prefix;
}

// Which loaded copy of this package a limit, a guard or a module comes from. One process may load
// the package twice: its CommonJS build through require() and its ES module build through import
// (the dual-package hazard), or two installs at different node_modules paths. Each copy has its own
// classes, so `instanceof` and class identity fail across them; a limit declared with one copy is
// never decided by the other's module. Such an app fails bootstrap; this lets the error name
// the handler, both copies and the fix.
import { dirname } from 'node:path';
import { buildFile } from './build-file.js';
import { RateLimitConfigError } from './config-checks.js';

/** The brand's key: `Symbol.for`, so every copy reads the same property. */
const PACKAGE_COPY = Symbol.for('nestjs-mcp-rate-limit:copy');

/** One loaded copy of the package; `location` is read (from a stack frame) only for a message. */
export interface PackageCopy {
  readonly location: string;
}

class LoadedCopy implements PackageCopy {
  private where: string | undefined;

  get location(): string {
    this.where ??= copyDirectory();
    return this.where;
  }
}

/** This copy. */
export const THIS_COPY: PackageCopy = new LoadedCopy();

/** Marks a class (its static side) or a prototype as this copy's. */
export function markCopy(target: object): void {
  Object.defineProperty(target, PACKAGE_COPY, { value: THIS_COPY });
}

/**
 * The injection token under which McpRateLimitModule provides its copy: a guard of another copy,
 * finding no module of its own, finds this one.
 */
export const MODULE_COPY = Symbol.for('nestjs-mcp-rate-limit:module-copy');

/**
 * The copy of the package a value comes from (a limit, a guard class or instance, a module
 * class), or undefined for anything that is not the package's.
 */
export function copyOf(value: unknown): PackageCopy | undefined {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function'))
    return undefined;
  const copy = (value as { [PACKAGE_COPY]?: unknown })[PACKAGE_COPY];
  if (copy === THIS_COPY) return THIS_COPY;
  if (copy === null || typeof copy !== 'object') return undefined;
  return typeof (copy as { location?: unknown }).location === 'string'
    ? (copy as PackageCopy)
    : undefined;
}

/** The other copy of the package a value comes from, or undefined (this copy's, or not ours). */
export function otherCopyOf(value: unknown): PackageCopy | undefined {
  const copy = copyOf(value);
  return copy === THIS_COPY ? undefined : copy;
}

/**
 * The error for a declaration (`what`) made with one copy of the package and decided by another
 * (its McpRateLimitModule or createRateLimiter): it fails bootstrap naming both copies and the fix.
 */
export function twoCopiesError(
  what: string,
  declaredWith: PackageCopy,
  decidedBy: PackageCopy,
): RateLimitConfigError {
  return new RateLimitConfigError(
    `${what} comes from one copy of nestjs-mcp-rate-limit (${declaredWith.location}) but would be decided by another (${decidedBy.location}). ${TWO_COPIES}`,
  );
}

/** Why two copies cannot work together, and what to do. */
export const TWO_COPIES =
  'The process has loaded the package twice, so it has two of each class and one copy cannot enforce the limits declared with the other: this happens when one part of the app loads it with require() (its CommonJS build) and another with import (its ES module build), or when a library installs its own copy in a nested node_modules. Fix: load one copy: import the package the same way (require() or import) in the app and in every library that declares limits, and make it a peerDependency of those libraries (`npm ls nestjs-mcp-rate-limit` then lists one copy)';

/** The directory of this copy's build (e.g. `…/nestjs-mcp-rate-limit/dist/cjs`). */
function copyDirectory(): string {
  const file = buildFile(); // in core/ of the build
  return file === undefined ? 'location unknown' : dirname(dirname(file));
}

import { DiscoveryService, MetadataScanner, ModulesContainer, type ModuleRef } from '@nestjs/core';
import { RateLimitConfigError } from '../core/limits.js';
import { MODULE_COPY, THIS_COPY, twoCopiesError, type PackageCopy } from '../core/package-copy.js';
import { appMethods } from './bootstrap-check.js';
import { handlersBindingGuardsOf } from './declarations.js';
import { McpRateLimitService } from './rate-limit.service.js';

/**
 * The app's {@link McpRateLimitService}, for a guard, filter or interceptor that a decorator bound
 * in any module: found through the whole app, not only the module of the decorated controller, so
 * a limit declared in a feature module holds even when McpRateLimitModule is imported elsewhere.
 */
export class ServiceRef {
  private service: McpRateLimitService | undefined;

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly user: string,
  ) {}

  get(): McpRateLimitService {
    return (this.service ??= this.find());
  }

  private find(): McpRateLimitService {
    try {
      return this.moduleRef.get(McpRateLimitService, { strict: false });
    } catch {
      throw this.noService();
    }
  }

  /**
   * Why there is no service of this copy of the package: McpRateLimitModule is not imported, or it
   * is imported from another loaded copy (package-copy.ts), whose module cannot decide the limits
   * declared with this one: then the error names both copies and the handlers declared with this one.
   */
  private noService(): RateLimitConfigError {
    const other = this.moduleCopy();
    if (other === undefined) {
      return new RateLimitConfigError(
        `${this.user}: rate limits are declared but McpRateLimitModule is not imported. Fix: import McpRateLimitModule.forRoot() in the application's module`,
      );
    }
    const handlers = this.handlersDeclaredHere();
    const which = handlers.length === 0 ? 'some handlers' : handlers.join(', ');
    return twoCopiesError(
      `${this.user}, bound by the rate-limit decorators of ${which},`,
      THIS_COPY,
      other,
    );
  }

  /** The copy of the app's McpRateLimitModule, when it has one of another copy. */
  private moduleCopy(): PackageCopy | undefined {
    try {
      const copy: unknown = this.moduleRef.get(MODULE_COPY, { strict: false });
      const location = (copy as { location?: unknown } | null)?.location;
      return typeof location === 'string' ? (copy as PackageCopy) : undefined;
    } catch {
      return undefined;
    }
  }

  /** `Class.method` of the handlers that bind this copy's guard (none known: empty). */
  private handlersDeclaredHere(): string[] {
    try {
      // From Nest's own container: the app need not import DiscoveryModule for this.
      const discovery = new DiscoveryService(
        this.moduleRef.get(ModulesContainer, { strict: false }),
      );
      return handlersBindingGuardsOf(appMethods(discovery, new MetadataScanner()), THIS_COPY);
    } catch {
      return [];
    }
  }
}

import type { ModuleRef } from '@nestjs/core';
import { RateLimitConfigError } from '../core/limits.js';
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
      throw new RateLimitConfigError(
        `${this.user}: rate limits are declared but McpRateLimitModule is not imported. Fix: import McpRateLimitModule.forRoot() in the application's module`,
      );
    }
  }
}

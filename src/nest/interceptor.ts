import {
  Inject,
  Injectable,
  Optional,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Observable } from 'rxjs';
import { combinedHeaderValues, setResponseHeader, type HeaderSource } from './headers.js';
import { McpRateLimitService } from './rate-limit.service.js';
import { DECISIONS_ON_REQUEST } from './tokens.js';

/**
 * Adds the IETF rate-limit header fields (draft-ietf-httpapi-ratelimit-headers-10) to HTTP
 * responses of rate-limited handlers and `@LimitMcpMessages()` endpoints, e.g.
 * `RateLimit-Policy: "fw:120:60000";q=120;w=60` and `RateLimit: "fw:120:60000";r=119;t=60`.
 * Headers are set before the handler runs, so they also reach responses the handler writes itself
 * (the MCP transport does). Off with `headers: false`. MCP-Nest tool calls have no HTTP response of
 * their own to decorate: their headers come from the endpoint's message-level limit.
 *
 * @example
 * ```ts
 * @UseInterceptors(McpRateLimitInterceptor) // or @UseMcpRateLimit(), or registerGlobally: true
 * ```
 */
@Injectable()
export class McpRateLimitInterceptor implements NestInterceptor {
  constructor(
    private readonly service: McpRateLimitService,
    @Optional() @Inject(HttpAdapterHost) private readonly adapterHost?: HttpAdapterHost,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (this.service.headersEnabled && context.getType() === 'http') {
      const http = context.switchToHttp();
      const request = http.getRequest<Record<symbol, unknown> | undefined>();
      const sources = request?.[DECISIONS_ON_REQUEST] as readonly HeaderSource[] | undefined;
      const values = sources === undefined ? undefined : combinedHeaderValues(sources);
      if (values !== undefined) {
        const response = http.getResponse<unknown>();
        const adapter = this.adapterHost?.httpAdapter;
        setResponseHeader(adapter, response, 'RateLimit-Policy', values.policy);
        setResponseHeader(adapter, response, 'RateLimit', values.remaining);
      }
    }
    return next.handle();
  }
}

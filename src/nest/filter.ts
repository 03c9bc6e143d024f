import {
  Catch,
  HttpException,
  Inject,
  Injectable,
  Optional,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { throwError, type Observable } from 'rxjs';
import type { LimitResult } from '../core/engine.js';
import {
  rateLimitError,
  rateLimitErrorResponse,
  type RateLimitErrorData,
} from '../mcp/json-rpc-error.js';
import { McpRateLimitService } from './rate-limit.service.js';
import { rpcDenialError } from './rpc-denial.js';
import { rateLimitHeaderValues, setResponseHeader } from './headers.js';

/**
 * A denied call on an HTTP endpoint (and, thrown by your own code, in an MCP handler). Its body is
 * the JSON-RPC error response, so even without {@link McpRateLimitFilter} Nest answers it sensibly;
 * the filter adds the chosen status (200 by default) and the `Retry-After` / `RateLimit` headers.
 *
 * @example
 * ```ts
 * const decision = await limiter.consume(subject);
 * if (!decision.allowed) throw new RateLimitExceededException({ retryAfter: decision.retryAfter! });
 * ```
 */
export class RateLimitExceededException extends HttpException {
  constructor(
    readonly data: RateLimitErrorData,
    /** The JSON-RPC id to echo. */
    readonly requestId: unknown = null,
    /** The limit results of the denial, for the `RateLimit` headers. */
    readonly results: readonly LimitResult[] = [],
    /** Whether the message-level limit denied. */
    readonly messageLevel = false,
  ) {
    super(rateLimitErrorResponse(requestId, data), 429);
  }
}

/**
 * Writes a {@link RateLimitExceededException} on the wire. On HTTP: the JSON-RPC error response
 * (`{"jsonrpc":"2.0","id":…,"error":{"code":-32005,"message":"Rate limit exceeded","data":{"retryAfter":N}}}`)
 * with status 200 (or 429, option `httpStatus`), `Retry-After` and, unless `headers: false`, the
 * `RateLimit` / `RateLimit-Policy` headers. In an MCP-Nest handler: the SDK's `ProtocolError`, so
 * the client receives a JSON-RPC error.
 *
 * Registered globally with `McpRateLimitModule.forRoot({ registerGlobally: true })`, or per class
 * with `@UseMcpRateLimit()`.
 */
@Catch(RateLimitExceededException)
@Injectable()
export class McpRateLimitFilter implements ExceptionFilter {
  constructor(
    private readonly service: McpRateLimitService,
    @Optional() @Inject(HttpAdapterHost) private readonly adapterHost?: HttpAdapterHost,
  ) {}

  catch(exception: RateLimitExceededException, host: ArgumentsHost): Observable<never> | void {
    if (host.getType() !== 'http') {
      const error = rpcDenialError(exception.data);
      return throwError(() => error);
    }
    const response = host.switchToHttp().getResponse<unknown>();
    const adapter = this.adapterHost?.httpAdapter;
    const set = (name: string, value: string): void =>
      setResponseHeader(adapter, response, name, value);
    set('Retry-After', String(rateLimitError(exception.data).data.retryAfter));
    if (this.service.headersEnabled) {
      const values = rateLimitHeaderValues([
        { results: exception.results, messageLevel: exception.messageLevel },
      ]);
      if (values !== undefined) {
        set('RateLimit-Policy', values.policy);
        set('RateLimit', values.remaining);
      }
    }
    const body = exception.getResponse();
    const status = this.service.httpStatus;
    if (adapter !== undefined) {
      adapter.reply(response, body, status);
      return;
    }
    // No Nest HTTP adapter (unusual): answer through the plain Node response.
    const node = response as {
      statusCode: number;
      setHeader(name: string, value: string): void;
      end(body: string): void;
    };
    node.statusCode = status;
    node.setHeader('Content-Type', 'application/json');
    node.end(JSON.stringify(body));
  }
}

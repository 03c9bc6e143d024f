import {
  Catch,
  Inject,
  Injectable,
  Optional,
  type ArgumentsHost,
  type ExceptionFilter,
  type OnModuleInit,
} from '@nestjs/common';
import { HttpAdapterHost, ModuleRef } from '@nestjs/core';
import { of, throwError, type Observable } from 'rxjs';
import {
  isAboveQuota,
  rateLimitErrorResponse,
  rateLimitToolResult,
  type RateLimitToolResult,
  wireRetryAfter,
} from '../mcp/json-rpc-error.js';
import { RateLimitExceededException } from './exception.js';
import type { McpRateLimitService } from './rate-limit.service.js';
import { ServiceRef } from './service-ref.js';
import { rpcDenialError } from './rpc-denial.js';
import { rateLimitHeaderValues, setResponseHeader } from './headers.js';

/**
 * Writes a {@link RateLimitExceededException} on the wire. On HTTP: the JSON-RPC error response
 * (`{"jsonrpc":"2.0","id":…,"error":{"code":-32005,"message":"Rate limit exceeded","data":{"retryAfter":N}}}`)
 * with status 200 (or 429, option `httpStatus`), `Retry-After` and, unless `headers: false`, the
 * `RateLimit` / `RateLimit-Policy` headers. In an MCP-Nest handler: the SDK's `ProtocolError`, so
 * the client receives a JSON-RPC error, or, for a tool whose denials are results
 * (`toolDenial: 'result'`), a tool result with `isError: true`.
 *
 * Bound by `@RateLimit()` itself; also registered globally with
 * `McpRateLimitModule.forRoot({ registerGlobally: true })`, or per class with `@UseMcpRateLimit()`.
 */
@Catch(RateLimitExceededException)
@Injectable()
export class McpRateLimitFilter implements ExceptionFilter, OnModuleInit {
  constructor(
    moduleRef: ModuleRef,
    @Optional() @Inject(HttpAdapterHost) private readonly adapterHost?: HttpAdapterHost,
  ) {
    this.serviceRef = new ServiceRef(moduleRef, 'McpRateLimitFilter');
  }

  private readonly serviceRef: ServiceRef;

  private get service(): McpRateLimitService {
    return this.serviceRef.get();
  }

  /** Fails bootstrap when the app has no McpRateLimitModule to decide with. */
  onModuleInit(): void {
    this.serviceRef.get();
  }

  catch(
    exception: RateLimitExceededException,
    host: ArgumentsHost,
  ): Observable<RateLimitToolResult> | Observable<never> | void {
    const code = this.service.errorCode;
    if (host.getType() !== 'http') {
      // An Observable of a value is what the handler answers: MCP-Nest passes a result with a
      // `content` array to the client untouched.
      if (exception.toolResult !== undefined) {
        return of(rateLimitToolResult(exception.toolResult.tool, exception.data));
      }
      const error = rpcDenialError(exception.data, code);
      return throwError(() => error);
    }
    const response = host.switchToHttp().getResponse<unknown>();
    const adapter = this.adapterHost?.httpAdapter;
    const set = (name: string, value: string): void =>
      setResponseHeader(adapter, response, name, value);
    const aboveQuota = isAboveQuota(exception.data);
    if (!aboveQuota) set('Retry-After', String(wireRetryAfter(exception.data)));
    if (this.service.headersEnabled) {
      const values = rateLimitHeaderValues([
        { results: exception.results, messageLevel: exception.messageLevel },
      ]);
      if (values !== undefined) {
        set('RateLimit-Policy', values.policy);
        set('RateLimit', values.remaining);
      }
    }
    const body = rateLimitErrorResponse(
      exception.requestId,
      exception.data,
      code,
      exception.messageLevel,
    );
    // 429 would tell the client to retry a call no window ever admits.
    const status = aboveQuota && this.service.httpStatus === 429 ? 400 : this.service.httpStatus;
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

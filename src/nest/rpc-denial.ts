import {
  RATE_LIMITED_CODE,
  rateLimitError,
  type RateLimitErrorData,
} from '../mcp/json-rpc-error.js';

/** The MCP SDK's `ProtocolError` constructor, as far as this package uses it. */
type ProtocolErrorClass = new (code: number, message: string, data?: unknown) => Error;
/** Nest's `RpcException` constructor, as far as this package uses it. */
type RpcExceptionClass = new (error: string | object) => Error & { getError(): string | object };

let protocolErrorClass: ProtocolErrorClass | undefined;
let rpcExceptionClass: RpcExceptionClass | undefined;
let rpcSupportLoad: Promise<boolean> | undefined;

/**
 * Loads what MCP-Nest denials need, from optional peers present in every MCP-Nest app and absent
 * from plain HTTP apps, which do not need them: `ProtocolError` (`@modelcontextprotocol/server`)
 * and `RpcException` (`@nestjs/microservices`). Resolves whether both loaded; called at bootstrap.
 */
export function loadRpcSupport(): Promise<boolean> {
  rpcSupportLoad ??= Promise.all([
    import('@modelcontextprotocol/server').then(
      (sdk: { ProtocolError?: unknown }) => {
        if (typeof sdk.ProtocolError === 'function') {
          protocolErrorClass = sdk.ProtocolError as ProtocolErrorClass;
        }
      },
      () => undefined,
    ),
    import('@nestjs/microservices').then(
      (microservices: { RpcException?: unknown }) => {
        if (typeof microservices.RpcException === 'function') {
          rpcExceptionClass = microservices.RpcException as RpcExceptionClass;
        }
      },
      () => undefined,
    ),
  ]).then(() => protocolErrorClass !== undefined && rpcExceptionClass !== undefined);
  return rpcSupportLoad;
}

/**
 * The error an MCP-Nest handler must raise for the client to receive a JSON-RPC error the denial's code (and
 * not an `isError` tool result): an `RpcException` around the SDK's `ProtocolError`, which MCP-Nest
 * passes through to the SDK. Without the SDK, an `RpcException` around a plain error with the same
 * code, message and data: resources and prompts still answer -32005; tools answer an `isError`
 * result saying "Rate limit exceeded".
 */
export function rpcDenial(data: RateLimitErrorData, code: number = RATE_LIMITED_CODE): Error {
  const error = rateLimitError(data, code);
  const cause =
    protocolErrorClass === undefined
      ? Object.assign(new Error(error.message), { code: error.code, data: error.data })
      : new protocolErrorClass(error.code, error.message, error.data);
  // Without @nestjs/microservices there is no RPC context to answer in; the cause is all there is.
  return rpcExceptionClass === undefined ? cause : new rpcExceptionClass(cause);
}

/** What an RPC exception filter hands on for a denial (MCP-Nest passes a ProtocolError to the SDK). */
export function rpcDenialError(
  data: RateLimitErrorData,
  code: number = RATE_LIMITED_CODE,
): unknown {
  const denial = rpcDenial(data, code);
  return rpcExceptionClass !== undefined && denial instanceof rpcExceptionClass
    ? denial.getError()
    : denial;
}

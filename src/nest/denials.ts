import type { RateLimitDecision } from '../core/engine.js';
import type { McpCall } from '../mcp/call.js';
import { errorDataOf, type RateLimitErrorData } from '../mcp/json-rpc-error.js';
import { reportUnidentified, UNIDENTIFIED_LIMIT } from './decision-report.js';
import { RateLimitExceededException } from './exception.js';
import type { HandlerPlan } from './handler-plan.js';
import type { McpRateLimitService } from './rate-limit.service.js';
import { rpcDenial } from './rpc-denial.js';

/**
 * What the guard throws for a denied call: in the `rpc` context an `RpcException` around the MCP
 * SDK's `ProtocolError` (a JSON-RPC error to the client), or for a tool whose denials are results a
 * `RateLimitExceededException` the filter turns into the result; on HTTP a
 * `RateLimitExceededException` the filter writes.
 */
export function denialOf(
  service: McpRateLimitService,
  type: 'rpc' | 'http',
  plan: HandlerPlan,
  call: McpCall,
  decision: RateLimitDecision,
  messageLevel: boolean,
): Error {
  const data = errorDataOf(decision);
  return deny(service, type, plan, call, data, decision.results, messageLevel);
}

/**
 * A caller we cannot identify gets no quota of its own: denied (option `unidentified`), by the
 * message-level limit when it is the first that would decide (or the only one).
 */
export function unidentifiedDenial(
  service: McpRateLimitService,
  type: 'rpc' | 'http',
  plan: HandlerPlan,
  call: McpCall,
  messages: number,
): Error {
  const messageLevel = messages > 0 || !plan.limited;
  reportUnidentified(service, plan, messageLevel ? 'message' : 'handler', call);
  const data = { retryAfter: 1, limit: UNIDENTIFIED_LIMIT };
  return deny(service, type, plan, call, data, [], messageLevel);
}

function deny(
  service: McpRateLimitService,
  type: 'rpc' | 'http',
  plan: HandlerPlan,
  call: McpCall,
  data: RateLimitErrorData,
  results: RateLimitDecision['results'],
  messageLevel: boolean,
): Error {
  if (type === 'rpc') {
    // A tool whose denials are results: the filter (bound with the guard) answers the result.
    if (plan.deniesAsResult && call.method === 'tools/call') {
      return new RateLimitExceededException(data, call.requestId, results, false, {
        tool: call.target,
      });
    }
    return rpcDenial(data, service.errorCode);
  }
  return new RateLimitExceededException(data, call.requestId, results, messageLevel);
}

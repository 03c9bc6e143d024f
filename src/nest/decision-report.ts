import type { RateLimitDecision } from '../core/engine.js';
import { BuiltInRateLimit } from '../core/limits.js';
import type { McpCall } from '../mcp/call.js';
import type { HandlerPlan } from './handler-plan.js';
import type { McpRateLimitService } from './rate-limit.service.js';
import type { DecisionScope } from './telemetry.js';

/** The subject of unidentified callers, as told to the decision hook. */
const UNIDENTIFIED_SUBJECT = 'unidentified';
/** What denied an unidentified caller, in the error's `data.limit`. */
export const UNIDENTIFIED_LIMIT = 'unidentified caller (option "unidentified")';

/**
 * Tells whoever listens of one decision: the metrics (when on), the debug log of a denial and the
 * `onDecision` hook. `count` is how many MCP messages the decision stands for (a batch at the
 * message level).
 */
export function reportDecision(
  service: McpRateLimitService,
  plan: HandlerPlan,
  scope: DecisionScope,
  call: McpCall,
  subject: string,
  decision: RateLimitDecision,
  count: number,
): void {
  plan.metrics?.[scope]?.record(decision.allowed ? 'allowed' : 'denied', call.method, count);
  // The usual case, with nothing to say: no describing of limits.
  if (decision.allowed && !service.hasDecisionHook) return;
  const limit = describeLimiter(decision.deniedBy);
  if (!decision.allowed) {
    service.logger.debug(
      `denied ${printable(subject)} ${printable(call.method ?? '?')} ${printable(call.target ?? '')} at ${plan.owner} (${scope}: ${limit}); retry after ${decision.retryAfter}s`,
    );
  }
  if (!service.hasDecisionHook) return;
  service.emit({
    type: decision.allowed ? 'allowed' : 'denied',
    scope,
    handler: plan.owner,
    subject,
    method: call.method,
    target: call.target,
    limit: decision.allowed ? undefined : limit,
    retryAfter: decision.retryAfter,
  });
}

/**
 * A caller we cannot identify was denied, in `scope` (the limit that would have decided first):
 * the metrics, the debug log and the hook hear of it.
 */
export function reportUnidentified(
  service: McpRateLimitService,
  plan: HandlerPlan,
  scope: DecisionScope,
  call: McpCall,
): void {
  plan.metrics?.[scope]?.record('denied', call.method);
  service.logger.debug(
    `denied an unidentified caller ${printable(call.method ?? '?')} ${printable(call.target ?? '')} at ${plan.owner} (${scope}; no user, no client address, no session)`,
  );
  if (!service.hasDecisionHook) return;
  service.emit({
    type: 'denied',
    scope,
    handler: plan.owner,
    subject: UNIDENTIFIED_SUBJECT,
    method: call.method,
    target: call.target,
    limit: UNIDENTIFIED_LIMIT,
    retryAfter: 1,
  });
}

/**
 * `text` with its control characters and line separators escaped (`\u000a`): the subject, method
 * and target of a denial come from the client, and a newline there would forge a log line.
 */
function printable(text: string): string {
  return text.replace(
    // eslint-disable-next-line no-control-regex -- control characters are what it escapes
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function describeLimiter(limiter: unknown): string | undefined {
  if (limiter === undefined) return undefined;
  if (limiter instanceof BuiltInRateLimit) return limiter.describe();
  return (limiter as object).constructor?.name ?? 'custom limiter';
}

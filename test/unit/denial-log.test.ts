// Attack review 11 (noted): the debug line of a denial names the client's method and target (and a
// subject a resolver may take from the request). A newline there would forge a log line of its own.
import { expect, test } from '@jest/globals';
import type { RateLimitDecision } from '../../src/core/engine.js';
import type { McpCall } from '../../src/mcp/call.js';
import { reportDecision, reportUnidentified } from '../../src/nest/decision-report.js';
import type { HandlerPlan } from '../../src/nest/handler-plan.js';
import type { McpRateLimitService } from '../../src/nest/rate-limit.service.js';

const forged = 'search\n[Nest] 1 - LOG [Auth] admin logged in\r\u2028';

function debugLines(report: (service: McpRateLimitService, plan: HandlerPlan) => void): string[] {
  const lines: string[] = [];
  const service = {
    hasDecisionHook: false,
    logger: { debug: (message: string) => lines.push(message) },
  } as unknown as McpRateLimitService;
  report(service, { owner: 'Tools.search', metrics: undefined } as unknown as HandlerPlan);
  return lines;
}

const call = { method: 'tools/call', target: forged, request: undefined } as unknown as McpCall;
const denied = { allowed: false, retryAfter: 3, deniedBy: undefined } as RateLimitDecision;

test('a denial logs the client-given target on one line, its control characters escaped', () => {
  const lines = debugLines((service, plan) =>
    reportDecision(service, plan, 'handler', call, `user:${forged}`, denied, 1),
  );
  expect(lines).toHaveLength(1);
  expect(lines[0]).not.toMatch(/[\n\r\u2028]/);
  expect(lines[0]).toContain('search\\u000a[Nest] 1 - LOG [Auth] admin logged in\\u000d\\u2028');
});

test('so does the denial of an unidentified caller', () => {
  const lines = debugLines((service, plan) => reportUnidentified(service, plan, 'handler', call));
  expect(lines).toHaveLength(1);
  expect(lines[0]).not.toMatch(/[\n\r\u2028]/);
});

// Preload of bench/guard-time.mjs: times McpRateLimitGuard.canActivate by execution context and
// writes the totals to GUARD_TIME_REPORT when the server is stopped (SIGTERM, before Nest's
// own shutdown hook, which is registered later).
import { writeFileSync } from 'node:fs';
import { McpRateLimitGuard } from 'nestjs-mcp-rate-limit';

const totals = new Map(); // context type -> [milliseconds, calls]
const canActivate = McpRateLimitGuard.prototype.canActivate;
McpRateLimitGuard.prototype.canActivate = function timedCanActivate(context) {
  const startMs = performance.now();
  try {
    return canActivate.call(this, context);
  } finally {
    const entry = totals.get(context.getType()) ?? [0, 0];
    entry[0] += performance.now() - startMs;
    entry[1] += 1;
    totals.set(context.getType(), entry);
  }
};
process.once('SIGTERM', () => {
  // { type: [milliseconds, runs] }: a call may run the guard more than once (bound by the
  // decorator and globally); the benchmark divides by the requests it made.
  writeFileSync(process.env.GUARD_TIME_REPORT, JSON.stringify(Object.fromEntries(totals)));
});

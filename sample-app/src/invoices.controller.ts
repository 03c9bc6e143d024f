import { Payload } from '@nestjs/microservices';
import { McpController, Tool } from '@rekog/mcp-nest';
import { randomUUID } from 'node:crypto';
import { FixedWindowRateLimit, RateLimit, SlidingWindowRateLimit } from 'nestjs-mcp-rate-limit';
import { z } from 'zod';

/** A tool with two limits at once: a short burst limit AND a daily quota. */
@McpController()
export class InvoicesController {
  @Tool({
    name: 'invoices.create',
    description: 'Creates a (fake) invoice. At most 3 per 10 seconds and 20 per day.',
    parameters: z.object({
      customer: z.string().min(1).max(100),
      amountCents: z.number().int().positive(),
    }),
  })
  // Both limits must admit the call; a call denied by one is counted by neither. The namespace
  // names the limit in the RateLimit headers (and would share its counters with any other handler
  // using the same namespace and settings).
  @RateLimit(
    new SlidingWindowRateLimit({ maxCalls: 3, perSeconds: 10, namespace: 'burst' }),
    // Fixed windows are aligned to the clock: this one is the UTC day.
    new FixedWindowRateLimit({ maxCalls: 20, perSeconds: 86_400, namespace: 'daily' }),
  )
  create(@Payload() { customer, amountCents }: { customer: string; amountCents: number }) {
    const invoice = { id: `inv_${randomUUID()}`, customer, amountCents };
    return { content: [{ type: 'text', text: JSON.stringify(invoice) }] };
  }
}

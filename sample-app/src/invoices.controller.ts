import { Payload } from '@nestjs/microservices';
import { McpController, Tool } from '@rekog/mcp-nest';
import { randomUUID } from 'node:crypto';
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
  create(@Payload() { customer, amountCents }: { customer: string; amountCents: number }) {
    const invoice = { id: `inv_${randomUUID()}`, customer, amountCents };
    return { content: [{ type: 'text', text: JSON.stringify(invoice) }] };
  }
}

import { setTimeout as sleep } from 'node:timers/promises';
import { Ctx, Payload } from '@nestjs/microservices';
import { McpController, Prompt, Resource, Tool, type McpContext } from '@rekog/mcp-nest';
import {
  ConcurrencyLimit,
  FixedWindowRateLimit,
  RateLimit,
  RateLimitOptions,
  SlidingWindowRateLimit,
  TokenBucketRateLimit,
} from 'nestjs-mcp-rate-limit';
import { z } from 'zod';

/** Tools, a resource and a prompt, each with the limit the README describes. */
@McpController()
export class DemoController {
  @Tool({
    name: 'demo.echo',
    description: 'Echoes the text back. Limited to 5 calls per 10 seconds (fixed window).',
    parameters: z.object({ text: z.string().max(1000) }),
  })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 10 }))
  echo(@Payload() { text }: { text: string }) {
    return { content: [{ type: 'text', text }] };
  }

  @Tool({
    name: 'demo.lookup',
    description:
      'Looks a term up. Limited to 2 calls per 10 seconds (fixed window); a denial is a tool result the model can read.',
    parameters: z.object({ query: z.string().max(200) }),
  })
  @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 10 }))
  // A denied call answers an isError tool result ("retry after N seconds"), not a JSON-RPC error.
  @RateLimitOptions({ toolDenial: 'result' })
  lookup(@Payload() { query }: { query: string }) {
    return { content: [{ type: 'text', text: `${query}: a term worth looking up` }] };
  }

  @Tool({
    name: 'demo.search',
    description: 'Pretends to search. Bursts of 3, then 1 call per second (token bucket).',
    parameters: z.object({ query: z.string().max(200) }),
  })
  @RateLimit(new TokenBucketRateLimit({ capacity: 3, refillPerSecond: 1 }))
  search(@Payload() { query }: { query: string }) {
    const results = ['alpha', 'beta', 'gamma'].map((word) => `${word}: about ${query}`);
    return { content: [{ type: 'text', text: results.join('\n') }] };
  }

  @Tool({
    name: 'demo.slow',
    description:
      'Sleeps `ms` milliseconds (at most 10 000). At most 2 calls in flight per user, and 30 per minute.',
    parameters: z.object({ ms: z.number().int().min(0).max(10_000) }),
  })
  // A slot is held while the call runs and released when it ends (answered, failed or stopped by
  // a cancellation); a third call meanwhile is denied with -32005.
  @RateLimit(
    new ConcurrencyLimit({ maxConcurrent: 2 }),
    new FixedWindowRateLimit({ maxCalls: 30, perSeconds: 60 }),
  )
  async slow(@Payload() { ms }: { ms: number }, @Ctx() context: McpContext) {
    // The request's abort signal (argument 4 of MCP-Nest's context: the SDK's request context):
    // a cancelled request stops sleeping at once, and its slot comes back.
    const sdk = context.getArgByIndex(4) as { mcpReq?: { signal?: AbortSignal } } | undefined;
    await sleep(ms, undefined, { signal: sdk?.mcpReq?.signal });
    return { content: [{ type: 'text', text: `slept ${ms} ms` }] };
  }

  // No @RateLimit: never limited (only the endpoint's message-level limit counts its calls).
  @Tool({ name: 'demo.free', description: 'Never rate limited.' })
  free() {
    return { content: [{ type: 'text', text: 'free as in beer' }] };
  }

  @Resource({
    uri: 'demo://status',
    name: 'status',
    description: 'Server status. Limited to 3 reads per 10 seconds (sliding window).',
    mimeType: 'application/json',
  })
  @RateLimit(new SlidingWindowRateLimit({ maxCalls: 3, perSeconds: 10 }))
  status(@Payload() { uri }: { uri: string }, @Ctx() context: McpContext) {
    const status = {
      ok: true,
      transport: context.getSession().transport,
      uptimeSeconds: process.uptime(),
    };
    return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(status) }] };
  }

  @Prompt({
    name: 'greet',
    description: 'A greeting prompt. Limited to 3 gets per 10 seconds (sliding window).',
    parameters: z.object({ name: z.string().max(100) }),
  })
  @RateLimit(new SlidingWindowRateLimit({ maxCalls: 3, perSeconds: 10 }))
  greet(@Payload() { name }: { name: string }) {
    return {
      messages: [
        {
          role: 'user' as const,
          content: { type: 'text' as const, text: `Say hello to ${name}.` },
        },
      ],
    };
  }
}

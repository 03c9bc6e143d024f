import { describeValue, type RateLimitContext } from '../core/context.js';
import { RateLimitConfigError } from '../core/limits.js';
import type { LimitSet } from '../core/limit-set.js';
import type { HandlerPlans } from './bootstrap-check.js';
import type { HandlerPlan } from './handler-plan.js';
import {
  MCP_NEST_PROMPT,
  MCP_NEST_RESOURCE,
  MCP_NEST_RESOURCE_TEMPLATE,
  MCP_NEST_TOOL,
} from './tokens.js';

/**
 * Which limits an admin call (peek, reset) is about: a tool, resource or prompt by its MCP name (a
 * resource by its URI, its URI template or its name), any handler by `Class.method`, or the
 * message-level limit of `@LimitMcpMessages()` endpoints.
 */
export type LimitTarget =
  | { readonly tool: string }
  | { readonly resource: string }
  | { readonly prompt: string }
  | { readonly handler: string }
  | 'messages';

type Kind = 'tool' | 'resource' | 'prompt' | 'handler';

/**
 * The limited handlers of an app by MCP name and by `Class.method`, read once at bootstrap. One MCP
 * name may belong to several handlers (a tool of each of two MCP-Nest servers); `Class.method` may
 * not: a handler's counters are keyed by it, so two classes of one name would share them.
 */
export class HandlerDirectory {
  private readonly byName: Record<Kind, Map<string, HandlerPlan[]>> = {
    tool: new Map(),
    resource: new Map(),
    prompt: new Map(),
    handler: new Map(),
  };

  /** @throws RateLimitConfigError when two limited handlers of different classes share a name. */
  constructor(plans: HandlerPlans) {
    for (const byHandler of plans.values()) {
      for (const [handler, plan] of byHandler) {
        if (plan?.limited !== true) continue;
        if (this.byName.handler.has(plan.owner)) {
          throw new RateLimitConfigError(
            `${plan.owner}: two different classes named "${plan.owner.split('.')[0]}" declare rate limits on this method, and a handler's counters are keyed by Class.method, so they would share one counter. Fix: give one of the classes another name (a bundler that minifies class names must keep them)`,
          );
        }
        this.add('handler', plan.owner, plan);
        const tool = mcpOptions(handler, MCP_NEST_TOOL);
        if (tool?.name !== undefined) this.add('tool', tool.name, plan);
        const prompt = mcpOptions(handler, MCP_NEST_PROMPT);
        if (prompt?.name !== undefined) this.add('prompt', prompt.name, plan);
        for (const key of [MCP_NEST_RESOURCE, MCP_NEST_RESOURCE_TEMPLATE]) {
          const resource = mcpOptions(handler, key);
          for (const name of [resource?.uri, resource?.uriTemplate, resource?.name]) {
            if (name !== undefined) this.add('resource', name, plan);
          }
        }
      }
    }
  }

  private add(kind: Kind, name: string, plan: HandlerPlan): void {
    const named = this.byName[kind].get(name);
    if (named === undefined) this.byName[kind].set(name, [plan]);
    else if (!named.includes(plan)) named.push(plan);
  }

  /** The MCP name a handler is listed under (tools/list, ...), for what it tells agents. */
  static mcpNameOf(handler: object): string | undefined {
    for (const key of [MCP_NEST_TOOL, MCP_NEST_PROMPT, MCP_NEST_RESOURCE]) {
      const options = mcpOptions(handler, key);
      const name = key === MCP_NEST_RESOURCE ? options?.uri : options?.name;
      if (name !== undefined) return name;
    }
    return undefined;
  }

  /** The plan of a target's handler; a clear error for an unknown or unlimited one. */
  find(target: Exclude<LimitTarget, 'messages'>): HandlerPlan {
    const kinds = Object.keys(target) as Kind[];
    const kind = kinds[0];
    const name = (target as Record<string, unknown>)[kind];
    if (kinds.length !== 1 || !Object.hasOwn(this.byName, kind) || typeof name !== 'string') {
      throw new TypeError(
        `McpRateLimitService: a target is { tool }, { resource }, { prompt }, { handler } or 'messages' (got ${JSON.stringify(target)})`,
      );
    }
    const named = this.byName[kind].get(name);
    if (named?.length === 1) return named[0];
    if (named !== undefined) {
      // Picking one would peek at or reset the counters of a handler the caller did not mean.
      const owners = named.map((plan) => plan.owner).sort();
      throw new RateLimitConfigError(
        `McpRateLimitService: the ${kind} "${name}" is the name of several limited handlers (${owners.join(', ')}); name one by { handler: 'Class.method' }`,
      );
    }
    const known = [...this.byName[kind].keys()].sort();
    throw new RateLimitConfigError(
      `McpRateLimitService: no rate-limited ${kind} "${name}" (${known.length === 0 ? `no ${kind} is limited` : `limited: ${known.join(', ')}`})`,
    );
  }
}

interface McpNestOptions {
  readonly name?: string;
  readonly uri?: string;
  readonly uriTemplate?: string;
}

function mcpOptions(handler: object, key: string): McpNestOptions | undefined {
  const options = Reflect.getMetadata(key, handler) as unknown;
  if (options === null || typeof options !== 'object') return undefined;
  const { name, uri, uriTemplate } = options as Record<string, unknown>;
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return { name: text(name), uri: text(uri), uriTemplate: text(uriTemplate) };
}

/** What an admin call may say of the call it stands for: the request and arguments keys read. */
export interface AdminCall {
  readonly request?: unknown;
  readonly args?: unknown;
}

/** The context of an admin call (one call's worth, cost 1), after checking its subject. */
export function adminContext(
  target: LimitTarget,
  subject: string,
  call: AdminCall,
): RateLimitContext {
  if (typeof subject !== 'string' || subject.length === 0) {
    throw new TypeError(
      `McpRateLimitService: the subject must be a non-empty string, e.g. a user id (got ${describeValue(subject)})`,
    );
  }
  return {
    subject,
    method: undefined,
    target: typeof target === 'string' ? undefined : Object.values(target)[0],
    request: call.request,
    args: call.args,
    cost: 1,
  };
}

/**
 * What the built-in limits of `sets` are keyed by for an admin call: the subject, or for a limit
 * with its own `key`, what that returns for the call's `request` (and `args`). Without a request
 * such a limit's counter is unknown: an error says how to name it, rather than reading or clearing
 * another bucket (key() of no request) as the subject's.
 */
export function adminKeys(
  action: 'peek' | 'reset',
  owner: string,
  sets: readonly LimitSet[],
  context: RateLimitContext,
): string[] {
  const keys = new Set<string>();
  for (const { limit } of sets.flatMap((set) => set.builtIns)) {
    if (limit.key === undefined) {
      keys.add(context.subject);
    } else if (context.request === undefined) {
      throw new TypeError(
        `McpRateLimitService.${action}: ${owner}: ${limit.describe()} has its own key(context), which reads the call's request; pass the request it reads, ${action}(target, subject, { request }), to reach that key's counter`,
      );
    } else {
      keys.add(String(limit.key(context)));
    }
  }
  return [...keys];
}

export function notInitialized(): never {
  throw new RateLimitConfigError(
    'McpRateLimitService: peek and reset work once the app is initialized',
  );
}

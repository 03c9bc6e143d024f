/** Metadata key of the limiters declared by `@RateLimit()` on a method or a class. */
export const RATE_LIMITS_METADATA = 'mcp-rate-limit:limits';
/** Metadata key set by `@SkipRateLimit()`. */
export const SKIP_RATE_LIMIT_METADATA = 'mcp-rate-limit:skip';
/** Metadata key of the per-call cost declared by `@RateLimitCost()`. */
export const RATE_LIMIT_COST_METADATA = 'mcp-rate-limit:cost';
/** Metadata key set by `@LimitMcpMessages()`. */
export const MCP_MESSAGE_LIMIT_METADATA = 'mcp-rate-limit:messages';
/** The `CACHE_MANAGER` token of `@nestjs/cache-manager` (a plain string, so that package stays optional). */
export const CACHE_MANAGER_TOKEN = 'CACHE_MANAGER';
/** Injection token of the module's options (`McpRateLimitModuleOptions`). */
export const MCP_RATE_LIMIT_OPTIONS = Symbol.for('nestjs-mcp-rate-limit:options');
/** Metadata key of the per-handler options of `@RateLimitOptions()`. */
export const RATE_LIMIT_OPTIONS_METADATA = 'mcp-rate-limit:options';
/** MCP-Nest's metadata keys of tools, resources, resource templates and prompts (1.x and 2.x). */
export const MCP_NEST_TOOL = 'mcp:tool';
export const MCP_NEST_RESOURCE = 'mcp:resource';
export const MCP_NEST_RESOURCE_TEMPLATE = 'mcp:resource-template';
export const MCP_NEST_PROMPT = 'mcp:prompt';
/** Nest's metadata keys of the handlers it routes to: HTTP routes and microservice patterns. */
export const NEST_ROUTE_PATH = 'path';
export const NEST_MESSAGE_PATTERN = 'microservices:pattern';
/** Nest's metadata key of a handler's interceptors. */
export const NEST_INTERCEPTORS = '__interceptors__';
/** Nest's metadata key of a class's or handler's guards (`@UseGuards()`). */
export const NEST_GUARDS = '__guards__';

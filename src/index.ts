export type { RateLimitContext, RateLimitVerdict, McpRateLimiter } from './core/context.js';
export {
  BuiltInRateLimit,
  FixedWindowRateLimit,
  SlidingWindowRateLimit,
  TokenBucketRateLimit,
  GcraRateLimit,
  ConcurrencyLimit,
  RateLimitConfigError,
} from './core/limits.js';
export type {
  CommonLimitOptions,
  FixedWindowOptions,
  SlidingWindowOptions,
  TokenBucketOptions,
  GcraOptions,
  ConcurrencyLimitOptions,
  LimitPolicy,
  AlgorithmParams,
  RateLimitRule,
} from './core/limits.js';
export type { FixedWindowParams } from './core/algorithms/fixed-window.js';
export type { SlidingWindowParams } from './core/algorithms/sliding-window.js';
export type { TokenBucketParams } from './core/algorithms/token-bucket.js';
export type { GcraParams } from './core/algorithms/gcra.js';
export type { ConcurrencyParams } from './core/algorithms/concurrency.js';
export type { AlgorithmName, AlgorithmStep, RefundStep } from './core/algorithms/types.js';
export { RateLimitEngine, LimitSet, toRetryAfterSeconds } from './core/engine.js';
export type {
  Limiter,
  LimitResult,
  RateLimitDecision,
  RateLimitEngineOptions,
} from './core/engine.js';
export { createRateLimiter } from './core/create-rate-limiter.js';
export type {
  ConsumeOptions,
  CreateRateLimiterOptions,
  RateLimiter,
} from './core/create-rate-limiter.js';
export type { RateLimitStore, LimitCheck, LimitOutcome, ResetMark } from './core/stores/store.js';
export { StoreTimeoutError, StoreUnavailableError } from './core/stores/store.js';
export { MemoryStore } from './core/stores/memory-store.js';
export type { MemoryStoreOptions } from './core/stores/memory-store.js';
export { CacheManagerStore } from './core/stores/cache-manager-store.js';
export type { CacheLike, CacheManagerStoreOptions } from './core/stores/cache-manager-store.js';
export { ResilientStore } from './core/stores/insurance.js';
export type {
  StoreErrorPolicy,
  OutagePolicyOptions,
  RateLimitLogger,
} from './core/stores/outage-policy.js';
export { defaultSubject, normalizeIp, encodeKeyPart } from './core/subject.js';
export type { Clock } from './core/clock.js';

// MCP calls, the -32005 error, the message-level policy.
export { callFromHttpRequest, callFromMcpContext, subjectOf } from './mcp/call.js';
export type { McpCall } from './mcp/call.js';
export {
  PROPOSED_RATE_LIMITED_CODE,
  RATE_LIMITED_CODE,
  RATE_LIMITED_MESSAGE,
  echoableId,
  rateLimitError,
  rateLimitErrorResponse,
  rateLimitToolResult,
} from './mcp/json-rpc-error.js';
export type {
  JsonRpcId,
  RateLimitErrorData,
  RateLimitErrorResponse,
  RateLimitJsonRpcError,
  RateLimitToolResult,
} from './mcp/json-rpc-error.js';
export { HOUSEKEEPING_METHODS, MessagePolicy, TASK_METHODS } from './mcp/message-policy.js';
export { InMemoryContinuations } from './mcp/continuations.js';
export type { ContinuationRegistry, InMemoryContinuationsOptions } from './mcp/continuations.js';

// Nest integration.
export { McpRateLimitModule } from './nest/module.js';
export type {
  McpRateLimitModuleExtras,
  McpRateLimitModuleForRootOptions,
  McpRateLimitModuleAsyncOptions,
} from './nest/module.js';
export type {
  CallOutcome,
  HandlerRateLimitOptions,
  McpRateLimitModuleOptions,
  McpMessageLimitOptions,
  RateLimitCostSpec,
  RateLimitEvent,
  RateLimitSpec,
  ToolDenial,
  UnidentifiedCallers,
} from './nest/options.js';
export {
  RateLimit,
  RateLimitOptions,
  SkipRateLimit,
  RateLimitCost,
  LimitMcpMessages,
  UseMcpRateLimit,
  limitByContext,
  ContextualLimit,
} from './nest/decorators.js';
export type { LimitByContextOptions } from './nest/decorators.js';
export { McpRateLimitGuard } from './nest/guard.js';
export { McpRateLimitInterceptor } from './nest/interceptor.js';
export { McpRateLimitFilter } from './nest/filter.js';
export { RateLimitExceededException } from './nest/exception.js';
export { McpRateLimitService } from './nest/rate-limit.service.js';
export type { LimitTarget } from './nest/handler-directory.js';
export { MCP_RATE_LIMIT_OPTIONS } from './nest/tokens.js';

// Redis store (node-redis v5 or ioredis, optional peers loaded only when a URL is given).
export { RedisStore } from './core/stores/redis-store.js';
export type {
  RedisStoreOptions,
  RedisClientLike,
  NodeRedisClientLike,
  NodeRedisClusterLike,
  IoRedisLike,
} from './core/stores/redis-store.js';
export { redisStoreFromCache } from './core/stores/redis-cache.js';

export type { RateLimitContext, RateLimitVerdict, McpRateLimiter } from './core/context.js';
export {
  BuiltInRateLimit,
  FixedWindowRateLimit,
  SlidingWindowRateLimit,
  TokenBucketRateLimit,
  GcraRateLimit,
  RateLimitConfigError,
} from './core/limits.js';
export type {
  CommonLimitOptions,
  FixedWindowOptions,
  SlidingWindowOptions,
  TokenBucketOptions,
  GcraOptions,
  LimitPolicy,
} from './core/limits.js';
export {
  createRateLimiter,
  RateLimitEngine,
  LimitSet,
  toRetryAfterSeconds,
} from './core/engine.js';
export type {
  CreateRateLimiterOptions,
  Limiter,
  LimitResult,
  RateLimitDecision,
  RateLimiter,
} from './core/engine.js';
export type { RateLimitStore, LimitCheck, LimitOutcome } from './core/stores/store.js';
export { StoreUnavailableError } from './core/stores/store.js';
export { MemoryStore } from './core/stores/memory-store.js';
export type { MemoryStoreOptions } from './core/stores/memory-store.js';
export { CacheManagerStore } from './core/stores/cache-manager-store.js';
export type { CacheLike, CacheManagerStoreOptions } from './core/stores/cache-manager-store.js';
export { ResilientStore } from './core/stores/insurance.js';
export type {
  StoreErrorPolicy,
  OutagePolicyOptions,
  RateLimitLogger,
} from './core/stores/insurance.js';
export { defaultSubject, normalizeIp, encodeKeyPart } from './core/subject.js';
export type { Clock } from './core/clock.js';

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

// One memory measurement in a clean process (run with --expose-gc by memory.bench.mjs):
// N distinct subjects through one limiter, heap per key while held, then heap after expiry.
// Prints one JSON line on stdout.
import { createRequire } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { importPackage } from './lib/harness.mjs';

const [kind, countArgument] = process.argv.slice(2);
const count = Number(countArgument);
const gc = globalThis.gc;
if (typeof gc !== 'function') throw new Error('run with --expose-gc');

/**
 * Memory in use after full collections (twice: finalizers and weak references settle): the V8 heap
 * plus ArrayBuffer backing stores (typed arrays keep their contents outside the heap).
 */
function heapUsed() {
  gc();
  gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

// Every subject is a fresh string, as a guard builds it per request; whoever keeps it pays for it.
const subjectOf = (index) => `user:${1_000_000 + index}`;
// Short windows so that expiry comes within seconds. The store's own sweep runs often, so that the
// keys expire as in production, while the event loop's longest stall is measured.
const WINDOW_SECONDS = 2;
const SWEEP_INTERVAL_MS = 250;

async function ours(limit) {
  const { createRateLimiter, MemoryStore } = await importPackage();
  const store = new MemoryStore({ sweepIntervalMs: SWEEP_INTERVAL_MS });
  const limiter = createRateLimiter({ limits: [limit], store, name: 'bench' });
  return {
    consume: (subject) => limiter.consume(subject),
    size: () => store.size,
    expire: async (windowEndsAtMs) => {
      await sleep(Math.max(0, windowEndsAtMs - Date.now()) + 100);
      while (store.size > 0) await sleep(50);
    },
  };
}

async function build() {
  const lib = await importPackage();
  const require = createRequire(import.meta.url);
  switch (kind) {
    case 'ours: fixed window':
      return ours(new lib.FixedWindowRateLimit({ maxCalls: 10, perSeconds: WINDOW_SECONDS }));
    case 'ours: sliding window':
      return ours(new lib.SlidingWindowRateLimit({ maxCalls: 10, perSeconds: WINDOW_SECONDS }));
    case 'ours: token bucket':
      return ours(new lib.TokenBucketRateLimit({ capacity: 10, refillPerSecond: 5 }));
    case 'ours: GCRA':
      return ours(new lib.GcraRateLimit({ ratePerSecond: 5, burst: 10 }));
    case 'RateLimiterMemory': {
      const { RateLimiterMemory } = require('rate-limiter-flexible');
      const limiter = new RateLimiterMemory({ points: 10, duration: WINDOW_SECONDS });
      return {
        consume: (subject) => limiter.consume(subject),
        // Its own storage: one record (and one timer) per key.
        size: () => limiter._memoryStorage._storage.size,
        expire: (windowEndsAtMs) => sleep(Math.max(0, windowEndsAtMs - Date.now()) + 100),
      };
    }
    case 'bare Map of small objects': {
      const counts = new Map();
      return {
        consume: async (subject) => {
          const now = Date.now();
          const entry = counts.get(subject);
          if (entry === undefined)
            counts.set(subject, { count: 1, expiresAt: now + 1000 * WINDOW_SECONDS });
          else entry.count++;
        },
        size: () => counts.size,
        expire: async () => counts.clear(),
      };
    }
    default:
      throw new Error(`unknown kind ${kind}`);
  }
}

const limiter = await build();
// Warm the code up on other subjects, then drop them, so that baseline includes compiled code.
for (let index = 0; index < 1_000; index++) await limiter.consume(`warm:${index}`);
await limiter.expire(Date.now() + WINDOW_SECONDS * 1000);
const baseline = heapUsed();

const started = Date.now();
for (let index = 0; index < count; index++) await limiter.consume(subjectOf(index));
const insertMs = Date.now() - started;
const keys = limiter.size();
const live = heapUsed();

// Every window (at most WINDOW_SECONDS long, clock-aligned for the fixed window) has ended by then.
// The longest stall of the event loop meanwhile: the sweep, and the collections that free the keys.
const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
await limiter.expire(Date.now() + WINDOW_SECONDS * 1000);
await sleep(1_000); // the collector frees what the sweep dropped
delay.disable();
const stallMs = delay.max / 1e6;
const keysAfter = limiter.size();
const after = heapUsed();

process.stdout.write(
  `${JSON.stringify({ kind, count, keys, keysAfter, baseline, live, after, insertMs, stallMs })}\n`,
);

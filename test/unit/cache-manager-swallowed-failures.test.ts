// Keyv swallows some failures of its storage adapter without a word (security review: cache store).
// Keyv's get() catches an adapter's rejected read and answers undefined, a miss, emitting no
// 'error' event; with `emitErrors: false` its set() likewise answers false for a refused write,
// and cache-manager passes neither on. The CacheManagerStore read such a miss as no state, a fresh
// allowance, and took such a write for done: the calls went on being admitted, and none reached
// the outage policy, so even onStoreError 'deny' (fail closed) failed open. A read that failed
// also had its call write a fresh state over the used-up one, so the quota was gone after the
// backend recovered too.
import { describe, expect, it } from '@jest/globals';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import {
  CacheManagerStore,
  FixedWindowRateLimit,
  SlidingWindowRateLimit,
  createRateLimiter,
  type RateLimitStore,
} from '../../src/index.js';

/** A Keyv storage adapter over a Map whose reads or writes can be made to fail. */
function flakyAdapter() {
  const entries = new Map<string, unknown>();
  const failing = { reads: false, writes: false };
  const adapter = {
    opts: {},
    on: () => adapter,
    get: async (key: string) => {
      if (failing.reads) throw new Error('read timed out');
      return entries.get(key);
    },
    set: async (key: string, value: unknown) => {
      if (failing.writes) throw new Error('write refused');
      entries.set(key, value);
      return true;
    },
    delete: async (key: string) => entries.delete(key),
    clear: async () => entries.clear(),
  };
  return { adapter, failing, entries };
}

const limits = [new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 3600 })];

function limiterOver(store: RateLimitStore) {
  return createRateLimiter({
    limits,
    store,
    name: 'tool',
    onStoreError: 'deny',
    logger: { warn: () => undefined },
  });
}

async function admitted(limiter: ReturnType<typeof limiterOver>, calls: number): Promise<number> {
  let count = 0;
  for (let call = 0; call < calls; call++) if ((await limiter.consume('client')).allowed) count++;
  return count;
}

describe('CacheManagerStore over a Keyv that swallows its adapter failures (policy deny)', () => {
  it('a read the adapter failed is a store failure, not a fresh allowance', async () => {
    const { adapter, failing } = flakyAdapter();
    const cache = createCache({ stores: [new Keyv({ store: adapter as never })] });
    const limiter = limiterOver(new CacheManagerStore(cache));
    expect(await admitted(limiter, 3)).toBe(2);
    failing.reads = true;
    expect(await admitted(limiter, 3)).toBe(0);
    failing.reads = false;
    // The used-up count survived the failed reads: nothing was written over it.
    expect(await admitted(limiter, 3)).toBe(0);
  });

  it('a read that failed in the first of two tiers is no miss, whatever the second holds', async () => {
    const first = flakyAdapter();
    const second = flakyAdapter();
    const cache = createCache({
      stores: [
        new Keyv({ store: first.adapter as never }),
        new Keyv({ store: second.adapter as never }),
      ],
    });
    const limiter = createRateLimiter({
      limits: [new SlidingWindowRateLimit({ maxCalls: 2, perSeconds: 3600 })],
      store: new CacheManagerStore(cache),
      name: 'tool',
      onStoreError: 'deny',
      logger: { warn: () => undefined },
    });
    expect(await admitted(limiter as never, 3)).toBe(2);
    first.failing.reads = true;
    // The second tier has lost the state (evicted, or a cold replica): a miss there after the
    // first tier failed is doubt, not an empty count.
    second.entries.clear();
    expect(await admitted(limiter as never, 3)).toBe(0);
  });

  it('a write Keyv answered false (emitErrors: false) is a store failure, not an admission', async () => {
    const { adapter, failing } = flakyAdapter();
    const cache = createCache({
      stores: [new Keyv({ store: adapter as never, emitErrors: false })],
    });
    const limiter = limiterOver(new CacheManagerStore(cache));
    expect(await admitted(limiter, 1)).toBe(1);
    failing.writes = true;
    expect(await admitted(limiter, 4)).toBe(0);
  });
});

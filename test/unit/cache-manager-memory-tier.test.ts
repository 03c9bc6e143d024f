// A cache with an in-process tier in front of a shared one (security review: cache store), e.g.
// `stores: [new Keyv({ store: new CacheableMemory({ lruSize }) }), new Keyv({ store: sharedOne })]`,
// the two-tier cache of cache-manager's docs. The CacheManagerStore read a state from the first
// tier that held it, and the in-process tier holds what this instance last wrote, not the count
// of every instance: each instance counted mostly alone, and wrote its own count over the others'
// in the shared tier. Two instances calling in turn, one call at a time, against a limit of 4:
// 7 admitted. Not the small excess of concurrent calls the README allows for a shared cache.
import { describe, expect, it } from '@jest/globals';
import { createCache } from 'cache-manager';
import { CacheableMemory } from 'cacheable';
import { Keyv } from 'keyv';
import { CacheManagerStore, FixedWindowRateLimit, createRateLimiter } from '../../src/index.js';

/** A Keyv storage adapter for a backend every instance reaches (a Map here). */
function sharedAdapter() {
  const entries = new Map<string, unknown>();
  return {
    opts: {},
    on: () => undefined,
    get: async (key: string) => entries.get(key),
    set: async (key: string, value: unknown) => entries.set(key, value) && true,
    delete: async (key: string) => entries.delete(key),
    clear: async () => entries.clear(),
  };
}

describe('CacheManagerStore over an in-process tier in front of a shared one', () => {
  it('two instances calling in turn share the limit (4 of 4 admitted, not 7)', async () => {
    const shared = sharedAdapter();
    const instances = [0, 1].map(() =>
      createRateLimiter({
        limits: [new FixedWindowRateLimit({ maxCalls: 4, perSeconds: 3_600 })],
        store: new CacheManagerStore(
          createCache({
            stores: [
              new Keyv({ store: new CacheableMemory({ lruSize: 1_000 }) }),
              new Keyv({ store: shared as never }),
            ],
          }),
        ),
        name: 'tool',
        onStoreError: 'deny',
        logger: { warn: () => undefined },
      }),
    );
    let admitted = 0;
    for (let call = 0; call < 20; call++) {
      if ((await instances[call % 2].consume('client')).allowed) admitted++;
    }
    expect(admitted).toBe(4);
  });
});

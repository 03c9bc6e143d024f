// A reset over a cache-manager cache made with `nonBlocking: true` (security review: cache store).
// Such a cache's del() answers before its stores have deleted anything, so the CacheManagerStore's
// reset released the subject's keys at once. The next call read the state from before the reset,
// was admitted on it and wrote it back; the delete, landing after that write, erased the call's
// admission: the subject got its whole quota back and one call more (limit 2: 3 admitted after
// the reset).
import { describe, expect, it } from '@jest/globals';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { CacheManagerStore, FixedWindowRateLimit, createRateLimiter } from '../../src/index.js';
import { remoteKeyvAdapter } from '../fixtures/remote-keyv-adapter.js';

describe('CacheManagerStore reset over a nonBlocking cache', () => {
  it('the calls after a reset get the quota once (limit 2: 2 admitted)', async () => {
    const cache = createCache({
      stores: [new Keyv({ store: remoteKeyvAdapter({ ms: 2, deleteMs: 20 }) as never })],
      nonBlocking: true,
    });
    const limiter = createRateLimiter({
      limits: [new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 3_600 })],
      store: new CacheManagerStore(cache),
      name: 'tool',
      onStoreError: 'deny',
      logger: { warn: () => undefined },
    });
    expect((await limiter.consume('client')).allowed).toBe(true);
    await limiter.reset('client');
    let admitted = 0;
    for (let call = 0; call < 3; call++) {
      if ((await limiter.consume('client')).allowed) admitted++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(admitted).toBe(2);
  });
});

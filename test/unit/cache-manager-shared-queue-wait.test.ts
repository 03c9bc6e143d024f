// Two CacheManagerStores over one cache share their key queues (two modules each making their own),
// but each judged a wait in that queue by its own last answer from the cache (security review:
// cache store). A store whose call waited behind a burst of the other store's calls on the same
// key, while the cache answered every one of them, had heard nothing itself, took the wait for an
// outage and failed the call into the outage policy (under 'allow', an admission the limit never
// counted). The cache's answers to either store now count for both.
import { describe, expect, it } from '@jest/globals';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { CacheManagerStore, FixedWindowRateLimit, type LimitCheck } from '../../src/index.js';
import { remoteKeyvAdapter } from '../fixtures/remote-keyv-adapter.js';

describe('two CacheManagerStores over one cache, one busy key', () => {
  it("a call queued behind the other store's burst waits while the cache answers", async () => {
    const cache = createCache({
      stores: [new Keyv({ store: remoteKeyvAdapter({ ms: 3 }) as never })],
    });
    const busy = new CacheManagerStore(cache, { operationTimeoutMs: 100 });
    const queued = new CacheManagerStore(cache, { operationTimeoutMs: 100 });
    const check: LimitCheck = {
      key: 'k',
      limit: new FixedWindowRateLimit({ maxCalls: 1_000, perSeconds: 3_600 }),
      cost: 1,
    };
    // About 6 ms each, one after another: the last of them answers well after 100 ms.
    const burst = Array.from({ length: 40 }, () => busy.evaluate([check]));
    const late = queued.evaluate([check]);
    await expect(late).resolves.toHaveLength(1);
    await Promise.all(burst);
  });
});

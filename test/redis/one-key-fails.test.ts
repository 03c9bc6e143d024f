// Attack review 12: a call that fails in the script while Redis answers (a foreign value at its
// key; before 763d6ae, every call of a limit whose TTL Redis refused) "fails alone" in its script
// call, and the outage policy decides it. But the policy also took the whole store for down:
// every call of every subject was decided by the policy for `retryIntervalMs`, and again after each
// such call. Under `allow`, one broken key switched every limit of the app off: another user's
// 1-per-minute limit admitted every call. The call with the broken key is the policy's; the others
// are still Redis's.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { createClient } from 'redis';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import { ConcurrencyLimit, FixedWindowRateLimit } from '../../src/core/limits.js';
import { CacheManagerStore } from '../../src/core/stores/cache-manager-store.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { encodeKeyPart } from '../../src/core/subject.js';
import { uniqueSubject } from './clients.js';
import { REDIS_URL, redisDescribe } from './redis-available.js';

const describeRedis = await redisDescribe('one broken key is not an outage');

describeRedis('one broken key is not an outage', () => {
  let client: ReturnType<typeof createClient>;
  beforeAll(async () => {
    client = createClient({ url: REDIS_URL });
    await client.connect();
  });
  afterAll(async () => {
    await client?.quit();
  });

  test.each(['allow', 'insurance'] as const)(
    'onStoreError %s: the calls of other subjects are still decided by Redis',
    async (policy) => {
      const store = RedisStore.fromUrl(REDIS_URL);
      const warnings: string[] = [];
      try {
        const name = `one-key-${Math.random().toString(36).slice(2)}`;
        const limit = new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 });
        const instance = () =>
          createRateLimiter({
            name,
            limits: [limit],
            store,
            onStoreError: policy,
            logger: { warn: (message: string) => warnings.push(message) },
          });
        const limiter = instance();
        const [broken, alice] = [uniqueSubject('broken'), uniqueSubject('alice')];
        expect((await limiter.consume(broken)).allowed).toBe(true);
        const [key] = await client.keys(`*${broken}*`);
        await client.del(key);
        await client.rPush(key, 'not ours'); // its GET fails: WRONGTYPE
        // Alice's one call a minute, made on another instance.
        expect((await instance().consume(alice)).allowed).toBe(true);
        await limiter.consume(broken); // fails in the script: the policy decides it
        // Alice's further calls on this instance (its own outage record knows nothing of her).
        let admitted = 0;
        for (let call = 0; call < 5; call++) if ((await limiter.consume(alice)).allowed) admitted++;
        expect(admitted).toBe(0);
        expect(warnings.join('\n')).toMatch(/WRONGTYPE/); // the broken key is reported
      } finally {
        await store.close();
      }
    },
  );

  test('a release whose other key is broken still frees the slot of its healthy key', async () => {
    const store = RedisStore.fromUrl(REDIS_URL);
    try {
      const run = Math.random().toString(36).slice(2);
      const slot = (namespace: string) =>
        new ConcurrencyLimit({ maxConcurrent: 1, leaseSeconds: 30, namespace: namespace + run });
      const options = { store, onStoreError: 'deny', logger: { warn: () => undefined } } as const;
      const both = createRateLimiter({ ...options, name: 'both', limits: [slot('a'), slot('b')] });
      const secondAlone = createRateLimiter({ ...options, name: 'alone', limits: [slot('b')] });
      const subject = uniqueSubject('slots');
      const running = await both.consume(subject);
      expect(running.allowed).toBe(true);
      // The first key of the release breaks: the script stops there, before the second's.
      const [firstKey] = await client.keys(`*${subject}*a${run}*`);
      await client.set(firstKey, 'not ours'); // its release fails: WRONGTYPE
      await running.release();
      // The second limit's slot is free again (before: its release was kept with the broken one,
      // waiting for a recovery that never comes, and the slot held for the whole lease).
      let admitted = false;
      for (let attempt = 0; attempt < 5 && !admitted; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        const decision = await secondAlone.consume(subject);
        admitted = decision.allowed;
        await decision.release();
      }
      expect(admitted).toBe(true);
    } finally {
      await store.close();
    }
  });

  test('CacheManagerStore, onStoreError allow: a foreign value at one key is not an outage', async () => {
    const cache = createCache({ stores: [new Keyv()] });
    const store = new CacheManagerStore(cache);
    const limiter = createRateLimiter({
      name: 'one-key-cache',
      limits: [new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 })],
      store,
      onStoreError: 'allow',
      logger: { warn: () => undefined },
    });
    const decision = await limiter.consume('broken');
    expect(decision.allowed).toBe(true);
    // The limit's key for that subject (see subject.ts): `<prefix>{<subject>}h<scope><limit id>`.
    const key = `mcprl:{${encodeKeyPart('broken')}}h${encodeKeyPart('one-key-cache')}fw:1:60000`;
    expect(await cache.get(key)).toEqual(expect.objectContaining({ count: 1 }));
    await cache.set(key, 'not ours'); // a string, not a fixed window's state
    expect((await limiter.consume('alice')).allowed).toBe(true);
    await limiter.consume('broken'); // its state is unreadable: the policy decides it
    let admitted = 0;
    for (let call = 0; call < 5; call++) if ((await limiter.consume('alice')).allowed) admitted++;
    expect(admitted).toBe(0);
  });
});

// Issue 18 §3: the script touches no key but those passed in KEYS. Dragonfly refuses any other
// (and Redis Cluster cannot route one), so a key the script derived itself (a marker built from a
// limit's key, say) would fail there while every test here passed. Here every script the store
// sends runs with `redis.call` and `redis.pcall` checked: a key-taking command on a key not in
// KEYS is recorded (under a key of the test's own) before it runs. Then every operation of every
// algorithm goes through the store, and the record must stay empty.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { createRateLimiter } from '../../src/core/create-rate-limiter.js';
import {
  ConcurrencyLimit,
  FixedWindowRateLimit,
  GcraRateLimit,
  SlidingWindowRateLimit,
  TokenBucketRateLimit,
} from '../../src/core/limits.js';
import { scriptBySha1 } from '../../src/core/stores/redis-script.js';
import { RedisStore, type RedisClientLike } from '../../src/core/stores/redis-store.js';
import { connectNodeRedis, uniqueSubject } from './clients.js';
import { REDIS_URL, redisDescribe } from './redis-available.js';

const describeRedis = await redisDescribe('the script touches only the keys in KEYS');

const VIOLATIONS = `keys-declared-violations-${process.pid}`;

/**
 * Shadows `redis` for the whole script with one whose `call` and `pcall` check their key: the first
 * argument of every command but TIME (each command our scripts use takes one key, first).
 */
const CHECKED_REDIS = `local checked_redis
do
  local real, declared = redis, {}
  for index = 1, #KEYS do declared[KEYS[index]] = true end
  local function checked(call)
    return function(command, ...)
      local key = ...
      if string.upper(command) ~= 'TIME' and not declared[key] then
        real.call('RPUSH', '${VIOLATIONS}', string.upper(command) .. ' ' .. tostring(key))
      end
      return call(command, ...)
    end
  end
  checked_redis = setmetatable({ call = checked(real.call), pcall = checked(real.pcall) }, { __index = real })
end
local redis = checked_redis
`;

let client: Awaited<ReturnType<typeof connectNodeRedis>>;
const checkedSha1 = new Map<string, string>(); // the store's script → its checked twin

/**
 * The store's client, with every script it sends swapped for its checked twin (loaded first), and
 * every other command passed on as it is.
 */
function checkingClient(): RedisClientLike {
  const sendCommand = async (args: string[], options?: unknown): Promise<unknown> => {
    if (args[0] === 'EVALSHA' || args[0] === 'EVAL') {
      const script = args[0] === 'EVAL' ? args[1] : scriptBySha1(args[1])?.source;
      if (script === undefined) throw new Error(`no script of this process has SHA1 ${args[1]}`);
      const source = `${CHECKED_REDIS}${script}`;
      let sha1 = checkedSha1.get(script);
      if (sha1 === undefined) {
        sha1 = createHash('sha1').update(source).digest('hex');
        await client.scriptLoad(source);
        checkedSha1.set(script, sha1);
      }
      args = ['EVALSHA', sha1, ...args.slice(2)];
    }
    return client.sendCommand(args, options as never);
  };
  return new Proxy(client, {
    get(target, property) {
      if (property === 'sendCommand') return sendCommand;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

describeRedis('the script touches only the keys in KEYS', () => {
  beforeAll(async () => {
    client = await connectNodeRedis(REDIS_URL);
    await client.del(VIOLATIONS);
  });
  afterAll(async () => {
    await client.del(VIOLATIONS);
    await client.close();
  });

  test('the checked script records a key that is not in KEYS (the check works)', async () => {
    const script = `redis.call('GET', KEYS[1]); redis.pcall('GET', KEYS[1] .. '!other'); return 1`;
    await client.sendCommand(['EVAL', `${CHECKED_REDIS}${script}`, '1', 'declared-key']);
    expect(await client.lRange(VIOLATIONS, 0, -1)).toEqual(['GET declared-key!other']);
    await client.del(VIOLATIONS);
  });

  test('every operation of every algorithm, alone and together', async () => {
    const store = new RedisStore({ client: checkingClient() });
    const limitSets = [
      [new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 })],
      [new SlidingWindowRateLimit({ maxCalls: 2, perSeconds: 60 })],
      [new TokenBucketRateLimit({ capacity: 2, refillPerSecond: 0.01 })],
      [new GcraRateLimit({ ratePerSecond: 0.01, burst: 2 })],
      [new ConcurrencyLimit({ maxConcurrent: 1 })],
      [
        new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 60 }),
        new SlidingWindowRateLimit({ maxCalls: 3, perSeconds: 60 }),
        new TokenBucketRateLimit({ capacity: 3, refillPerSecond: 0.01 }),
        new GcraRateLimit({ ratePerSecond: 0.01, burst: 3 }),
        new ConcurrencyLimit({ maxConcurrent: 2 }),
      ],
    ];
    const storeErrors: unknown[] = [];
    let outcomes = 0;
    for (const [index, limits] of limitSets.entries()) {
      // The default policy ('insurance'), which also reads the reset markers ('m') after a reset;
      // every store error is kept: a script that failed must not pass for a clean run.
      const limiter = createRateLimiter({
        name: `keys-declared-${index}`,
        limits,
        store,
        reportStoreError: (error) => storeErrors.push(error),
      });
      const subject = uniqueSubject('keys');
      const first = await limiter.consume(subject); // evaluate ('e'/'E')
      await limiter.peek(subject); // peek ('p'/'P')
      await first.release(); // a concurrency release (a refund of its leases)
      const second = await limiter.consume(subject, { cost: 1 });
      await limiter.refund(second); // a refund checked against reset markers ('x'), its mark
      await Promise.all([1, 2, 3].map(() => limiter.consume(subject))); // one batch, some denied
      await limiter.reset(subject); // reset ('d'): keys and their markers
      const afterReset = await limiter.consume(subject);
      expect(afterReset.allowed).toBe(true);
      await limiter.refund(afterReset);
      await afterReset.release();
      outcomes++;
    }
    expect(storeErrors).toEqual([]);
    expect(outcomes).toBe(limitSets.length);
    // Every script the store sent ran checked.
    expect(checkedSha1.size).toBeGreaterThan(0);
    expect(await client.lRange(VIOLATIONS, 0, -1)).toEqual([]);
    await store.close();
  });
});

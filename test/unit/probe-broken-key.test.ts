import { expect, it, jest } from '@jest/globals';
import {
  ConcurrencyLimit,
  createRateLimiter,
  MemoryStore,
  type RateLimitStore,
} from '../../src/index.js';
import { StoreKeyError } from '../../src/core/stores/store.js';

// A store that was down is probed by one call once retryIntervalMs has passed. A probe that fails
// on a broken key (its store answered: a foreign value there) still shows the store is back: the
// releases it refused while down go out at once, and the next caller finds its slot free.

it('a probe that fails on a broken key ends the outage: the releases kept meanwhile go out', async () => {
  let nowMs = 1_000_000;
  const shared = new MemoryStore({ clock: () => nowMs });
  const state = { down: false };
  const answer = <T>(checks: readonly { subject?: string }[], work: () => Promise<T>) => {
    if (state.down) return Promise.reject(new Error('ECONNREFUSED'));
    if (checks.some((check) => check.subject === 'broken')) {
      return Promise.reject(new StoreKeyError('a foreign value at the key of "broken"'));
    }
    return work();
  };
  const store: RateLimitStore = {
    evaluate: (checks) => answer(checks, () => shared.evaluate(checks)),
    refund: (checks) => answer(checks, () => shared.refund(checks)),
  };
  const limiter = createRateLimiter({
    name: 'probe',
    limits: [new ConcurrencyLimit({ maxConcurrent: 1, leaseSeconds: 30 })],
    store,
    onStoreError: 'deny',
    retryIntervalMs: 1_000,
    clock: () => nowMs,
    logger: { warn: jest.fn<(message: string) => void>() },
  });

  const running = await limiter.consume('alice');
  expect(running.allowed).toBe(true);
  state.down = true;
  await running.release(); // refused: kept until the store answers again
  state.down = false;
  nowMs += 1_500; // past retryIntervalMs: the next call probes
  const probe = await limiter.consume('broken');
  expect(probe.allowed).toBe(false); // the policy's ('deny'): its key is broken
  await new Promise((resolve) => setImmediate(resolve)); // the kept release goes out
  // Alice's slot is free at once (before: the store stayed "down" after that probe, her call
  // probed it again and was decided before her release went out: denied once more).
  expect((await limiter.consume('alice')).allowed).toBe(true);
  shared.close();
});

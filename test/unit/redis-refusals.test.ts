// What a server that cannot run the store's scripts is told, through the outage policy's error. The
// refusals of scripting itself and of keys by ACL are met against a real Redis (test/redis); an
// old server is not at hand here, so its reply is given as Redis 5 words it.
import { expect, test } from '@jest/globals';
import { unavailable } from '../../src/core/stores/redis-batch.js';

test('a server older than Redis 6.0 is told that the store needs 6.0 (SET KEEPTTL)', () => {
  const old = new Error(
    'ERR Error running script (call to f_4b8c1d5e0a): @user_script:35: ERR syntax error',
  );
  const error = unavailable(old);
  expect(error.name).toBe('StoreUnavailableError');
  expect(error.message).toMatch(/Redis 6\.0 or later/);
  expect(error.cause).toBe(old);
});

test('other failures are not taken for an old server', () => {
  for (const message of ['Connection is closed.', 'ERR syntax error', 'BUSY Redis is busy']) {
    expect(unavailable(new Error(message)).message).not.toMatch(/Redis 6\.0/);
  }
});

// A user id that is a Node Buffer (a BINARY(16) UUID from MySQL, a bytea from Postgres) is keyed by
// its bytes. Found by attack review 11: its "string form of its own" was Buffer's toString(), which
// decodes UTF-8 and turns every invalid byte into U+FFFD, so different ids became one subject:
// users 0x80 and 0xff (one byte each, or the same prefix and one such byte) shared one quota.
import { describe, expect, it } from '@jest/globals';
import { defaultSubject } from '../../src/index.js';

describe('a Buffer user id', () => {
  it('keys each id apart, whatever its bytes', () => {
    const subjects = new Set(
      [0x80, 0xc3, 0xfe, 0xff].map((byte) =>
        defaultSubject({ user: { id: Buffer.from([0x01, 0x02, byte]) } }),
      ),
    );
    expect(subjects.size).toBe(4);
  });

  it('is the same subject for the same bytes', () => {
    const id = Buffer.from('0190d4c2e0f87b2a9c3e5f6a7b8c9d0e', 'hex');
    expect(defaultSubject({ user: { id } })).toBe(
      defaultSubject({ user: { id: Buffer.from(id) } }),
    );
  });
});

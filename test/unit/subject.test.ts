import { describe, expect, it } from '@jest/globals';
import express from 'express';
import { callFromMcpContext, defaultSubject, encodeKeyPart, normalizeIp } from '../../src/index.js';

describe('defaultSubject', () => {
  it('prefers the authenticated user id: id, then sub, then userId', () => {
    expect(defaultSubject({ user: { id: 'u1', sub: 's1' }, ip: '1.2.3.4' })).toBe('user:u1');
    expect(defaultSubject({ user: { sub: 's1', userId: 7 } })).toBe('user:s1');
    expect(defaultSubject({ user: { userId: 7 } })).toBe('user:7');
  });

  it('on Fastify, reads a user a Nest middleware set on the Node request (request.raw)', () => {
    expect(defaultSubject({ raw: { user: { id: 'u1' } }, ip: '1.2.3.4' })).toBe('user:u1');
    // The framework request's own user (set by a guard) comes first.
    expect(defaultSubject({ user: { id: 'u2' }, raw: { user: { id: 'u1' } } })).toBe('user:u2');
  });

  it('falls back to the client IP, then to nobody (undefined): an unidentified caller', () => {
    expect(defaultSubject({ user: {}, ip: '1.2.3.4' })).toBe('ip:1.2.3.4');
    expect(defaultSubject({ ip: '::ffff:10.0.0.1' })).toBe('ip:10.0.0.1');
    expect(defaultSubject({ socket: { remoteAddress: '10.0.0.2' } })).toBe('ip:10.0.0.2');
    expect(defaultSubject({})).toBeUndefined();
    expect(defaultSubject(undefined)).toBeUndefined();
    // request.ip is the source of truth: a request whose ip is gone (socket reset) is not keyed
    // by a socket address read some other way.
    expect(
      defaultSubject({ ip: undefined, socket: { remoteAddress: '10.0.0.3' } }),
    ).toBeUndefined();
  });

  it('keys a user id by its own string form: ObjectId-like, bigint, own toString', () => {
    const objectId = {
      toHexString: () => '65a1f0c2e4b0a1b2c3d4e5f6',
      toString: () => '65a1f0c2e4b0a1b2c3d4e5f6',
    };
    expect(defaultSubject({ user: { id: objectId }, ip: '1.2.3.4' })).toBe(
      'user:65a1f0c2e4b0a1b2c3d4e5f6',
    );
    expect(defaultSubject({ user: { id: 12345678901234567890n } })).toBe(
      'user:12345678901234567890',
    );
    class UserId {
      constructor(private readonly value: string) {}
      toString(): string {
        return `uid-${this.value}`;
      }
    }
    expect(defaultSubject({ user: { sub: new UserId('7') } })).toBe('user:uid-7');
  });

  it('refuses a user id without a string form instead of falling back to the IP', () => {
    for (const id of [{ nested: true }, ['a', 'b'], true, Number.NaN]) {
      expect(() => defaultSubject({ user: { id }, ip: '1.2.3.4' })).toThrow(
        /request\.user\.id cannot key a rate limit/,
      );
    }
  });

  // Attack review 4: a user whose id came out empty was keyed by its address, one quota per address,
  // shared with the anonymous callers there.
  it('refuses a user whose only ids are empty strings instead of falling back to the IP', () => {
    for (const user of [{ id: '' }, { sub: '' }, { userId: '' }, { id: '', sub: '' }]) {
      expect(() => defaultSubject({ user, ip: '1.2.3.4' })).toThrow(
        /request\.user has an empty id/,
      );
    }
    // An empty field beside a usable one is only absent.
    expect(defaultSubject({ user: { id: '', sub: 's1' }, ip: '1.2.3.4' })).toBe('user:s1');
  });

  it('gives each address its own subject when calls alternate between addresses', () => {
    // The last address's subject is reused: a stale one would key a client by another's IP.
    const addresses = ['10.0.0.1', '10.0.0.1', '::ffff:10.0.0.2', '2001:db8::1', '10.0.0.1'];
    expect(addresses.map((ip) => defaultSubject({ ip }))).toEqual([
      'ip:10.0.0.1',
      'ip:10.0.0.1',
      'ip:10.0.0.2',
      'ip:2001:db8:0:0::/64',
      'ip:10.0.0.1',
    ]);
  });

  it("follows Express's request.ip: the socket's address, or the trusted X-Forwarded-For", () => {
    const app = express();
    app.set('trust proxy', 'loopback');
    // A request as Express makes it: an object whose prototype is the app's request.
    const requestFrom = (remoteAddress: string, headers: Record<string, string>) =>
      Object.assign(Object.create(app.request) as object, { headers, socket: { remoteAddress } });
    const direct = requestFrom('10.0.0.7', {});
    expect(defaultSubject(direct)).toBe('ip:10.0.0.7');
    expect(defaultSubject(direct)).toBe(`ip:${(direct as unknown as { ip: string }).ip}`);
    const proxied = requestFrom('127.0.0.1', { 'x-forwarded-for': '203.0.113.9' });
    expect(defaultSubject(proxied)).toBe('ip:203.0.113.9');
    // Behind an untrusted proxy the header does not count.
    const untrusted = requestFrom('10.0.0.8', { 'x-forwarded-for': '203.0.113.9' });
    expect(defaultSubject(untrusted)).toBe('ip:10.0.0.8');
    // An app that defines request.ip its own way is asked, on the request or on its prototype.
    const overridden = requestFrom('10.0.0.7', {});
    Object.defineProperty(overridden, 'ip', { value: '198.51.100.4' });
    expect(defaultSubject(overridden)).toBe('ip:198.51.100.4');
    const otherApp = express();
    Object.defineProperty(otherApp.request, 'ip', {
      get(this: { headers: Record<string, string> }) {
        return this.headers['x-real-ip'];
      },
    });
    const realIp = Object.assign(Object.create(otherApp.request) as object, {
      headers: { 'x-real-ip': '192.0.2.44' },
      socket: { remoteAddress: '127.0.0.1' },
    });
    expect(defaultSubject(realIp)).toBe('ip:192.0.2.44');
  });

  it('treats a request.ip that is no IP address as an unidentified caller, never its own bucket', () => {
    expect(defaultSubject({ ip: 'unknown' })).toBeUndefined();
    expect(defaultSubject({ ip: '203.0.113.7:51234' })).toBe('ip:203.0.113.7');
    expect(defaultSubject({ ip: 'garbage:1' })).toBeUndefined();
  });

  // Found by attack review 7: a user with none of id, sub, userId was keyed by its IP address.
  it('keys a user by _id (a MongoDB document) after id, sub and userId', () => {
    const objectId = { toHexString: () => '65a1f0c2e4b0a1b2c3d4e5f6' };
    expect(defaultSubject({ user: { _id: objectId, email: 'a@example.com' } })).toBe(
      'user:65a1f0c2e4b0a1b2c3d4e5f6',
    );
    expect(defaultSubject({ user: { _id: 'm1', userId: 'u1' } })).toBe('user:u1');
  });

  it('keys a user that is itself a string or a number by that value', () => {
    expect(defaultSubject({ user: 'alice', ip: '1.2.3.4' })).toBe('user:alice');
    expect(defaultSubject({ user: 42, ip: '1.2.3.4' })).toBe('user:42');
  });

  it('reads no user from undefined, null, false (Passport: not authenticated) or {}', () => {
    for (const user of [undefined, null, false, {}, Object.create(null) as object]) {
      expect(defaultSubject({ user, ip: '1.2.3.4' })).toBe('ip:1.2.3.4');
    }
  });

  it('refuses a user with no usable id, or of another kind, instead of falling back to the IP', () => {
    class Account {
      readonly email = 'a@example.com';
    }
    for (const user of [{ username: 'alice' }, { email: 'a@example.com' }, new Account()]) {
      expect(() => defaultSubject({ user, ip: '1.2.3.4' })).toThrow(
        'request.user has no id (read id, sub, userId, _id): it cannot key a rate limit; give the user one of these ids, or choose the subject with the resolveSubject option',
      );
    }
    for (const user of [true, Number.NaN, Symbol('user')]) {
      expect(() => defaultSubject({ user, ip: '1.2.3.4' })).toThrow(
        /^request\.user cannot key a rate limit: .*resolveSubject option/,
      );
    }
    expect(() => defaultSubject({ user: '', ip: '1.2.3.4' })).toThrow(
      /request\.user has an empty id/,
    );
    expect(() => defaultSubject({ user: { _id: '' }, ip: '1.2.3.4' })).toThrow(
      /request\.user has an empty id/,
    );
  });

  it('never confuses a user id with an IP', () => {
    expect(defaultSubject({ user: { id: '1.2.3.4' } })).not.toBe(defaultSubject({ ip: '1.2.3.4' }));
  });
});

describe('normalizeIp', () => {
  it('unwraps IPv4-mapped IPv6 in both notations', () => {
    expect(normalizeIp('::ffff:192.168.1.9')).toBe('192.168.1.9');
    expect(normalizeIp('::FFFF:c0a8:0109')).toBe('192.168.1.9');
    expect(normalizeIp('0:0:0:0:0:ffff:c0a8:109')).toBe('192.168.1.9');
  });

  it('groups IPv6 by /64, whatever the notation', () => {
    const prefix = '2001:db8:1:2::/64';
    expect(normalizeIp('2001:db8:1:2::1')).toBe(prefix);
    expect(normalizeIp('2001:0DB8:0001:0002:ffff:ffff:ffff:ffff')).toBe(prefix);
    expect(normalizeIp('2001:db8:1:2:a:b:c:d%eth0')).toBe(prefix);
    expect(normalizeIp('2001:db8:1:3::1')).not.toBe(prefix);
    expect(normalizeIp('::1')).toBe('0:0:0:0::/64');
  });

  it('keeps IPv4 as it is; what is not an IP address is no address (undefined)', () => {
    expect(normalizeIp('8.8.8.8')).toBe('8.8.8.8');
    expect(normalizeIp('not an ip')).toBeUndefined();
    expect(normalizeIp('')).toBeUndefined();
    expect(normalizeIp('unknown:51234')).toBeUndefined();
  });

  // Found by attack review 7: a proxy that writes the client's port into X-Forwarded-For made each
  // connection a new subject.
  it('takes off a port and brackets, as some proxies write them into X-Forwarded-For', () => {
    expect(normalizeIp('203.0.113.7:51234')).toBe('203.0.113.7');
    expect(normalizeIp('[2001:db8:1:2::1]:443')).toBe('2001:db8:1:2::/64');
    expect(normalizeIp('[2001:db8:1:2::1]')).toBe('2001:db8:1:2::/64');
    expect(normalizeIp('[::ffff:192.0.2.1]:80')).toBe('192.0.2.1');
    expect(normalizeIp('[fe80::1%eth0]:8080')).toBe('fe80:0:0:0::/64');
    expect(normalizeIp('203.0.113.7:')).toBeUndefined();
    expect(normalizeIp('[203.0.113.7]:80')).toBe('203.0.113.7');
  });
});

describe('encodeKeyPart', () => {
  it('is self-delimiting, so concatenated parts cannot collide', () => {
    expect(encodeKeyPart('a:b') + encodeKeyPart('c')).not.toBe(
      encodeKeyPart('a') + encodeKeyPart('b:c'),
    );
    expect(encodeKeyPart('1:a')).not.toBe(encodeKeyPart('a'));
  });

  it('bounds huge parts and keeps them distinct', () => {
    const huge = encodeKeyPart('x'.repeat(1_000_000));
    expect(huge.length).toBeLessThan(64);
    expect(huge).not.toBe(encodeKeyPart(`${'x'.repeat(999_999)}y`));
  });

  it('hashes lone surrogates losslessly (UTF-8 would turn both into U+FFFD)', () => {
    expect(encodeKeyPart('\ud800')).not.toBe(encodeKeyPart('\udc00'));
    expect(encodeKeyPart('\ud800')).not.toBe(encodeKeyPart('\ufffd'));
  });
});

describe('callFromMcpContext', () => {
  const request = { ip: '10.1.2.3' };
  const mcpContext = {
    mcpRequest: { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'search' } },
    getRawRequest: () => request,
  };

  it('reads the method, target and id of the MCP request, and keeps the payload and request', () => {
    const call = callFromMcpContext(mcpContext, { query: 'q' });
    expect(call.method).toBe('tools/call');
    expect(call.target).toBe('search');
    expect(call.requestId).toBe(7);
    expect(call.args).toEqual({ query: 'q' });
    expect(call.request).toBe(request);
    expect(call.session).toBeUndefined();
    // As JSON (logs), the names are there like any other field.
    expect(JSON.parse(JSON.stringify(call))).toEqual({
      method: 'tools/call',
      target: 'search',
      requestId: 7,
      args: { query: 'q' },
      request: { ip: '10.1.2.3' },
    });
  });

  it('reads a resource URI as the target, and never throws on a hostile request', () => {
    const resource = callFromMcpContext(
      { mcpRequest: { method: 'resources/read', params: { uri: 'mcp://docs/a' } } },
      undefined,
    );
    expect(resource.target).toBe('mcp://docs/a');
    const hostile = callFromMcpContext(
      {
        get mcpRequest() {
          throw new Error('no');
        },
        getRawRequest: () => {
          throw new Error('no');
        },
      },
      undefined,
    );
    expect([hostile.method, hostile.target, hostile.requestId, hostile.request]).toEqual([
      undefined,
      undefined,
      null,
      undefined,
    ]);
    const throwingParams = callFromMcpContext(
      {
        mcpRequest: {
          method: 'tools/call',
          get params() {
            throw new Error('no');
          },
        },
      },
      undefined,
    );
    expect(throwingParams.method).toBe('tools/call');
    expect(throwingParams.target).toBeUndefined();
  });
});

// Found by attack review 8, on review 7's NAT64/SIIT fix (normalizeIp unwraps 64:ff9b::/96 and
// ::ffff:0:0:0/96). RFC 8215 reserves 64:ff9b:1::/48 for exactly the same use, local-use IPv4/IPv6
// translation (SIIT-DC in front of an IPv6-only service, RFC 7755), and operators are told to take
// their translation prefix from it instead of the well-known one. Behind such a translator every
// IPv4 client of the world arrives as 64:ff9b:1:…:<its IPv4>, and grouped by /64 they shared ONE
// subject: one anonymous IPv4 client exhausted the quota of all the others. The /48 is not routed
// on the Internet, so no native IPv6 client can use it to multiply its subjects: an address in it
// is keyed by the IPv4 address in its last 32 bits.
import { describe, expect, it } from '@jest/globals';
import { defaultSubject } from '../../src/index.js';

describe('defaultSubject: IPv4 clients behind a local-use (RFC 8215) translation prefix', () => {
  it('two IPv4 clients translated with 64:ff9b:1::/96 are two subjects, keyed by their IPv4', () => {
    expect(defaultSubject({ ip: '64:ff9b:1::192.0.2.1' })).toBe('ip:192.0.2.1');
    expect(defaultSubject({ ip: '64:ff9b:1::198.51.100.1' })).toBe('ip:198.51.100.1');
  });

  it('two IPv4 clients translated with a /96 deeper in 64:ff9b:1::/48 are two subjects', () => {
    expect(defaultSubject({ ip: '64:ff9b:1:abcd::c000:201' })).toBe('ip:192.0.2.1');
    expect(defaultSubject({ ip: '[64:ff9b:1:abcd:0:1:c633:6401]:443' })).toBe('ip:198.51.100.1');
  });

  it('an address just outside the /48 stays IPv6, grouped by /64', () => {
    expect(defaultSubject({ ip: '64:ff9b:2::c000:201' })).toBe('ip:64:ff9b:2:0::/64');
  });
});

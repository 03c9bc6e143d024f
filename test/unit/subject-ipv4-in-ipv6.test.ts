// Found by attack review 7: IPv6 clients are grouped by their /64 prefix, but some IPv6 addresses
// are IPv4 clients in disguise: behind a NAT64/SIIT translator (RFC 6052's well-known prefix
// 64:ff9b::/96, used in IPv6-only data centres in front of IPv4 clients) every IPv4 client of the
// world arrives as 64:ff9b::<its IPv4>, all in one /64. Grouped by /64, ALL of them had one subject:
// a single anonymous client exhausted the quota of every other IPv4 client. Like IPv4-mapped
// ::ffff:a.b.c.d, these forms are keyed by the IPv4 address they carry.
import { describe, expect, it } from '@jest/globals';
import { defaultSubject } from '../../src/index.js';

describe('defaultSubject: IPv4 clients behind an IPv6 translator are keyed by their IPv4 address', () => {
  it('two IPv4 clients translated with the well-known NAT64 prefix are two subjects', () => {
    // 192.0.2.1 and 198.51.100.1
    expect(defaultSubject({ ip: '64:ff9b::c000:201' })).toBe('ip:192.0.2.1');
    expect(defaultSubject({ ip: '64:ff9b::198.51.100.1' })).toBe('ip:198.51.100.1');
  });

  it('two IPv4-translated addresses (::ffff:0:a.b.c.d, SIIT) are two subjects', () => {
    expect(defaultSubject({ ip: '::ffff:0:192.0.2.1' })).toBe('ip:192.0.2.1');
    expect(defaultSubject({ ip: '::ffff:0:c633:6401' })).toBe('ip:198.51.100.1');
  });

  it('other addresses near those prefixes stay IPv6, grouped by /64', () => {
    expect(defaultSubject({ ip: '64:ff9b:2::c000:201' })).toBe('ip:64:ff9b:2:0::/64');
    expect(defaultSubject({ ip: '64:ff9b::1:c000:201' })).toBe('ip:64:ff9b:0:0::/64');
  });
});

// Found by attack review 7: a POST whose body Nest did not parse (body parser off) was counted as one
// message, while the MCP server read the whole batch from the stream itself.
import { describe, expect, it } from '@jest/globals';
import { MessagePolicy, RateLimitConfigError } from '../../src/index.js';

const policy = new MessagePolicy();

function post(headers: Record<string, string>, body?: unknown) {
  return { method: 'POST', headers, body };
}

describe('MessagePolicy.count of a request whose body was not parsed', () => {
  it('refuses a POSTed JSON body with no request.body: it cannot be counted', () => {
    const unparsed: Record<string, string>[] = [
      { 'content-type': 'application/json', 'content-length': '120' },
      { 'content-type': 'Application/JSON; charset=utf-8', 'transfer-encoding': 'chunked' },
    ];
    for (const headers of unparsed) {
      expect(() => policy.count(post(headers))).toThrow(RateLimitConfigError);
      expect(() => policy.count(post(headers))).toThrow(
        /Keep Nest's JSON body parser on for the MCP endpoint/,
      );
    }
  });

  it('counts a parsed batch by its requests, as before', () => {
    const call = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'a' } };
    const headers = { 'content-type': 'application/json', 'content-length': '999' };
    expect(policy.count(post(headers, [call, { ...call, id: 2 }]))).toBe(2);
  });

  it('counts one for a bodiless POST or another content type (the MCP transport refuses those)', () => {
    expect(policy.count(post({ 'content-type': 'application/json', 'content-length': '0' }))).toBe(
      1,
    );
    expect(policy.count(post({ 'content-type': 'text/plain', 'content-length': '12' }))).toBe(1);
    expect(policy.count(post({}))).toBe(1);
  });

  it('counts nothing for GET and DELETE', () => {
    const headers = { 'content-type': 'application/json', 'content-length': '12' };
    expect(policy.count({ method: 'GET', headers })).toBe(0);
    expect(policy.count({ method: 'DELETE', headers })).toBe(0);
  });
});

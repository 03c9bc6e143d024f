// resolveSubject: its answer keys the call; `undefined` asks for the default; anything else fails the
// call. Found by attack review 5: a resolver that threw (a client's malformed header can make one
// throw) or answered a number silently keyed the caller by its IP, a quota of its own apart from
// the one the resolver meant (an exhausted API key's, say).
import { expect, test } from '@jest/globals';
import { subjectOf, type McpCall } from '../../src/mcp/call.js';

const call: McpCall = {
  method: 'tools/call',
  target: 'search',
  requestId: 1,
  args: {},
  request: { ip: '203.0.113.7', headers: {} },
  session: undefined,
};

test('a string keys the call; undefined or null fall back to the default subject', () => {
  expect(subjectOf(call, () => 'key:abc')).toBe('key:abc');
  expect(subjectOf(call, () => undefined)).toBe('ip:203.0.113.7');
  expect(subjectOf(call, () => null)).toBe('ip:203.0.113.7');
});

test('a resolver that throws, or answers anything else, fails the call instead of keying it by IP', () => {
  expect(() =>
    subjectOf(call, () => {
      throw new SyntaxError('bad header');
    }),
  ).toThrow(SyntaxError);
  for (const answer of [42, '', { id: 'u1' }, true]) {
    expect(() => subjectOf(call, () => answer)).toThrow(/resolveSubject must answer/);
  }
});

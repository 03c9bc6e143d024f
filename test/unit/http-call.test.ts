// What a JSON-RPC request over HTTP says of its call (callFromHttpRequest). The Mcp-Method and
// Mcp-Name headers are the client's word: the SDK checks them against a single message's body, never
// against a batch's. Attack review 11: read for a batch, a header naming a cheap tool could steer a
// route's cost or limitByContext choice for a batch of expensive calls.
import { expect, test } from '@jest/globals';
import { callFromHttpRequest } from '../../src/index.js';

const headers = { 'mcp-method': 'tools/call', 'mcp-name': 'cheap' };
const call = (name: string) => ({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name, arguments: {} },
});

test('a single message: its body names the call, the headers only when the body does not', () => {
  const single = callFromHttpRequest({ headers, body: call('export') });
  expect([single.method, single.target, single.requestId]).toEqual(['tools/call', 'export', 1]);
  const bodyless = callFromHttpRequest({ headers, body: undefined });
  expect([bodyless.method, bodyless.target]).toEqual(['tools/call', 'cheap']);
});

test('a batch names no single call: neither from its body nor from the headers', () => {
  const batch = callFromHttpRequest({ headers, body: [call('export'), call('export')] });
  expect([batch.method, batch.target, batch.requestId]).toEqual([undefined, undefined, null]);
});

test('a body field the guard cannot read leaves the call unnamed: the headers do not fill it', () => {
  const body = { jsonrpc: '2.0', id: 1, method: ['tools/call'], params: { name: ['export'] } };
  const unreadable = callFromHttpRequest({ headers, body });
  expect([unreadable.method, unreadable.target]).toEqual([undefined, undefined]);
  const unnamed = callFromHttpRequest({ headers, body: { jsonrpc: '2.0', id: 2 } });
  expect([unnamed.method, unnamed.target]).toEqual(['tools/call', 'cheap']);
});

// When a call counts as given up by its client (then refundWhen is not asked: it stays charged).
import { expect, test } from '@jest/globals';
import { cancelledByClient } from '../../src/mcp/call.js';

test('an aborted MCP request, or an HTTP request whose connection is gone, was given up', () => {
  const aborted = new AbortController();
  aborted.abort();
  const mcpContext = (signal: AbortSignal) => ({
    getArgByIndex: (index: number) => (index === 4 ? { mcpReq: { signal } } : undefined),
  });
  expect(cancelledByClient(mcpContext(aborted.signal), undefined)).toBe(true);
  expect(cancelledByClient(mcpContext(new AbortController().signal), undefined)).toBe(false);

  expect(cancelledByClient(undefined, { socket: { destroyed: true } })).toBe(true);
  expect(cancelledByClient(undefined, { raw: { socket: { destroyed: true } } })).toBe(true);
  expect(cancelledByClient(undefined, { socket: { destroyed: false } })).toBe(false);
  expect(cancelledByClient(undefined, undefined)).toBe(false);

  const hostile = {
    get socket(): never {
      throw new Error('no');
    },
  };
  expect(cancelledByClient(undefined, hostile)).toBe(false);
});

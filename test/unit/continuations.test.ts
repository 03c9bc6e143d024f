// The registry of issued requestStates: bound to subject and handler, single use, short-lived,
// bounded. A fake clock, so no wall-clock threshold.
import { describe, expect, test } from '@jest/globals';
import { InMemoryContinuations } from '../../src/index.js';
import { issuedRequestState, toolResultOf } from '../../src/mcp/continuations.js';

describe('InMemoryContinuations', () => {
  test('a state counts once, for its own subject and handler only', () => {
    const registry = new InMemoryContinuations({ now: () => 0 });
    registry.record('user:a', 'Tools.confirm', 's1');
    expect(registry.take('user:b', 'Tools.confirm', 's1')).toBe(false);
    expect(registry.take('user:a', 'Tools.other', 's1')).toBe(false);
    expect(registry.take('user:a', 'Tools.confirm', 's2')).toBe(false);
    expect(registry.take('user:a', 'Tools.confirm', 's1')).toBe(true);
    expect(registry.take('user:a', 'Tools.confirm', 's1')).toBe(false);
  });

  test('claim answers what the state was recorded with, once', () => {
    const registry = new InMemoryContinuations<{ charge: number }>({ now: () => 0 });
    registry.record('user:a', 'h', 'carrying', { charge: 3 });
    registry.record('user:a', 'h', 'plain');
    expect(registry.claim('user:b', 'h', 'carrying')).toBeUndefined();
    expect(registry.claim('user:a', 'h', 'carrying')).toMatchObject({ carried: { charge: 3 } });
    expect(registry.claim('user:a', 'h', 'carrying')).toBeUndefined();
    expect(registry.claim('user:a', 'h', 'plain')).toMatchObject({ carried: undefined });
  });

  test('a state expires', () => {
    let now = 1_000;
    const registry = new InMemoryContinuations({ ttlMs: 500, now: () => now });
    registry.record('user:a', 'h', 'early');
    registry.record('user:a', 'h', 'late');
    now += 499;
    expect(registry.take('user:a', 'h', 'early')).toBe(true);
    now += 1;
    expect(registry.take('user:a', 'h', 'late')).toBe(false);
  });

  test('memory is bounded: the oldest states are forgotten first (charged again, never free)', () => {
    const registry = new InMemoryContinuations({ maxEntries: 3, now: () => 0 });
    for (const state of ['s1', 's2', 's3', 's4']) registry.record('user:a', 'h', state);
    expect(registry.take('user:a', 'h', 's1')).toBe(false);
    for (const state of ['s2', 's3', 's4']) expect(registry.take('user:a', 'h', state)).toBe(true);
  });

  test('a logical call has at most maxRounds rounds: the state of the last is not remembered', () => {
    const registry = new InMemoryContinuations({ maxRounds: 3, now: () => 0 });
    registry.record('user:a', 'h', 'first'); // issued by the charged first round
    expect(registry.claim('user:a', 'h', 'first')).toMatchObject({ round: 1 });
    registry.record('user:a', 'h', 'second', undefined, 2);
    expect(registry.claim('user:a', 'h', 'second')).toMatchObject({ round: 2 });
    // Issued by round 3 of 3: its retry would be a fourth round, charged as a new call.
    registry.record('user:a', 'h', 'third', undefined, 3);
    expect(registry.take('user:a', 'h', 'third')).toBe(false);
  });

  test('by default a logical call has 10 rounds', () => {
    const registry = new InMemoryContinuations({ now: () => 0 });
    registry.record('user:a', 'h', 'ninth', undefined, 9);
    registry.record('user:a', 'h', 'tenth', undefined, 10);
    expect(registry.take('user:a', 'h', 'ninth')).toBe(true);
    expect(registry.take('user:a', 'h', 'tenth')).toBe(false);
  });
});

// Found by attack review 7: any value with these fields was taken for an issued state.
describe('which answers issue a requestState', () => {
  const asked = { resultType: 'input_required', requestState: 's1' };

  test("an MCP-Nest tool's value only when MCP-Nest sends it as the result (a content array)", () => {
    expect(issuedRequestState({ ...asked, content: [] }, 'tool')).toBe('s1');
    expect(issuedRequestState(asked, 'tool')).toBeUndefined(); // sent as JSON text
  });

  test("a resource's or prompt's value as it is", () => {
    expect(issuedRequestState(asked, 'result')).toBe('s1');
    expect(issuedRequestState({ ...asked, requestState: 1 }, 'result')).toBeUndefined();
  });

  test("a JSON-RPC endpoint's answer only as the result of a JSON-RPC 2.0 response", () => {
    expect(issuedRequestState({ jsonrpc: '2.0', id: 1, result: asked }, 'json-rpc')).toBe('s1');
    expect(issuedRequestState(asked, 'json-rpc')).toBeUndefined();
    expect(issuedRequestState({ id: 1, result: asked }, 'json-rpc')).toBeUndefined();
    expect(issuedRequestState({ jsonrpc: '2.0', id: 1, error: asked }, 'json-rpc')).toBeUndefined();
  });
});

describe('toolResultOf: the result MCP-Nest answers for what a tool returned', () => {
  test('a value with a content array as it is, any other as its JSON text', () => {
    const result = { content: [{ type: 'text', text: 'x' }], isError: true };
    expect(toolResultOf(result)).toBe(result);
    expect(toolResultOf({ isError: true })).toEqual({
      content: [{ type: 'text', text: '{"isError":true}' }],
    });
  });

  test('a value JSON cannot write is an isError result', () => {
    expect(toolResultOf({ big: 1n })).toMatchObject({ isError: true });
  });
});

// The README's "Module options" table names every option McpRateLimitModule.forRoot() takes, and
// no other. The record below is checked by the compiler against the option types (`satisfies`:
// a missing or an extra key fails `npm run typecheck`), so an option added to the types without a
// row in the table, or a row left for an option that is gone, fails here. Its `errorCode` row
// lists the codes bootstrap refuses (it once left out JSON-RPC's own codes).
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorCodeProblem } from '../../src/mcp/json-rpc-error.js';
import type { McpMessageLimitOptions, McpRateLimitModuleForRootOptions } from '../../src/index.js';

const MODULE_OPTIONS = Object.keys({
  registerGlobally: true,
  isGlobal: true,
  store: true,
  onStoreError: true,
  messageLimit: true,
  resolveSubject: true,
  unidentified: true,
  errorCode: true,
  toolDenial: true,
  refundWhen: true,
  httpStatus: true,
  headers: true,
  enabled: true,
  onDecision: true,
  prefix: true,
  advertiseLimits: true,
  metrics: true,
} satisfies Record<keyof McpRateLimitModuleForRootOptions, true>);

const MESSAGE_LIMIT_OPTIONS = Object.keys({
  limits: true,
  excludedMethods: true,
  countedMethods: true,
} satisfies Record<keyof McpMessageLimitOptions, true>);

const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

/** The rows of the first table after `## Module options`, by the option their first cell names. */
function optionRows(): Map<string, string> {
  const section = readme.slice(readme.indexOf('\n## Module options\n'));
  const lines = section.split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const rows = new Map<string, string>();
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    const name = /^\|\s*`(\w+)`/.exec(line)?.[1];
    if (name !== undefined) rows.set(name, line);
  }
  return rows;
}

describe('README "Module options" table', () => {
  const rows = optionRows();

  test('has one row per option of forRoot(), and no other', () => {
    expect([...rows.keys()].sort()).toEqual([...MODULE_OPTIONS].sort());
  });

  test('names every field of messageLimit', () => {
    const row = rows.get('messageLimit') ?? '';
    for (const field of MESSAGE_LIMIT_OPTIONS) expect(row).toContain(field);
  });

  test('the errorCode row lists the codes bootstrap refuses, and they are refused', () => {
    const row = rows.get('errorCode') ?? '';
    for (const listed of ['-32700', '-32600..-32603', '-32002', '-32020..-32099', '-32023']) {
      expect(row).toContain(listed);
    }
    for (const refused of [-32700, -32600, -32601, -32602, -32603, -32002, -32020, -32099]) {
      expect([refused, errorCodeProblem(refused)]).toEqual([refused, expect.any(String)]);
    }
    for (const accepted of [-32005, -32023, -32000, -32019, -32100]) {
      expect([accepted, errorCodeProblem(accepted)]).toEqual([accepted, undefined]);
    }
  });
});

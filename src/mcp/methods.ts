import { HOUSEKEEPING_METHODS } from './message-policy.js';

/**
 * The request methods an MCP client can send (revisions up to 2026-07-28, with the tasks methods).
 * A JSON-RPC endpoint reads the method from the client's body: anything that reports by method
 * (metrics, logs) keeps to this list, so that a client cannot make up any number of names.
 */
export const CLIENT_REQUEST_METHODS: ReadonlySet<string> = new Set([
  ...HOUSEKEEPING_METHODS,
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'subscriptions/listen',
]);

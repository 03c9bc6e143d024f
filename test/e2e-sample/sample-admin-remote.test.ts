// The sample app's admin route (peek and reset any user's limits) behind its documented default
// token, `demo-admin-token`. `npm start` listens on every interface, so anyone on the network who
// has read the README could look up and reset every user's limits of a running demo. Without a
// token of the operator's own (SAMPLE_ADMIN_TOKEN), the route must answer this machine only.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { networkInterfaces } from 'node:os';
import type { StartedSampleApp } from '../../sample-app/src/bootstrap.js';

/** An address of this machine that is not loopback: a request to it comes from it. */
const external = Object.values(networkInterfaces())
  .flat()
  .find((address) => address !== undefined && !address.internal && address.family === 'IPv4');

let sample: StartedSampleApp;
let port: number;

beforeAll(async () => {
  delete process.env.SAMPLE_ADMIN_TOKEN;
  const { startSampleApp } = await import('../../sample-app/src/bootstrap.js');
  // As `npm start` does: every interface.
  sample = await startSampleApp({ port: 0, logLevels: false });
  port = (sample.app.getHttpServer().address() as { port: number }).port;
});
afterAll(async () => {
  await sample?.app.close();
});

const peek = (host: string) =>
  fetch(`http://${host}:${port}/admin/limits/alice?tool=demo.echo`, {
    headers: { 'x-admin-token': 'demo-admin-token' },
  });

describe('the sample admin route with the default demo token', () => {
  test('answers a request from this machine', async () => {
    expect((await peek('127.0.0.1')).status).toBe(200);
  });

  (external === undefined ? test.skip : test)(
    'refuses a request from another address',
    async () => {
      const response = await peek(external!.address);
      expect(response.status).toBe(403);
      const reset = await fetch(
        `http://${external!.address}:${port}/admin/limits/alice?tool=demo.echo`,
        {
          method: 'DELETE',
          headers: { 'x-admin-token': 'demo-admin-token' },
        },
      );
      expect(reset.status).toBe(403);
    },
  );
});

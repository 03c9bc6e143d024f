// The sample app's admin route with SAMPLE_ADMIN_TOKEN set but empty (a `.env` line left blank,
// `SAMPLE_ADMIN_TOKEN=$UNSET`): the token was the empty string, and a request with no
// X-Admin-Token header compared equal to it, so anyone could peek at and reset every user's
// limits. An empty variable must count as unset (as REDIS_URL's does), never as a token.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { StartedSampleApp } from '../../sample-app/src/bootstrap.js';

let sample: StartedSampleApp;
let base: string;

beforeAll(async () => {
  process.env.SAMPLE_ADMIN_TOKEN = '';
  const { startSampleApp } = await import('../../sample-app/src/bootstrap.js');
  sample = await startSampleApp({ port: 0, host: '127.0.0.1', logLevels: false });
  const { port } = sample.app.getHttpServer().address() as { port: number };
  base = `http://127.0.0.1:${port}/admin/limits/alice?tool=demo.echo`;
});
afterAll(async () => {
  delete process.env.SAMPLE_ADMIN_TOKEN;
  await sample?.app.close();
});

describe('the sample admin route with an empty SAMPLE_ADMIN_TOKEN', () => {
  test('refuses a request without a token', async () => {
    expect((await fetch(base)).status).toBe(401);
    expect((await fetch(base, { method: 'DELETE' })).status).toBe(401);
  });

  test('takes the demo token from this machine, as when it is unset', async () => {
    const response = await fetch(base, { headers: { 'x-admin-token': 'demo-admin-token' } });
    expect(response.status).toBe(200);
  });
});

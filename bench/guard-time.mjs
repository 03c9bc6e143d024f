// How long the guard takes per call inside a loaded MCP-Nest server (not part of `npm run bench`).
// Starts bench/e2e-app (variant `memory` unless BENCH_VARIANT says otherwise) with a preload that
// times McpRateLimitGuard.canActivate, loads it with autocannon (32 connections, 4 s warm-up, then
// GUARD_TIME_SECONDS), and prints the mean wall time per call, by execution context (`http`: the
// MCP endpoint, `rpc`: the tool). A request pays both. Run after `npm run build` and compiling
// bench/e2e-app (npm run bench does): node bench/guard-time.mjs
//
// Why: in a loaded server our code runs with cold caches, many times slower than in a
// micro-benchmark (`req.ip` took about 0.1 µs in a loop and about 4 µs here), so the end-to-end
// cost has to be read where it is paid.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const SECONDS = Number(process.env.GUARD_TIME_SECONDS ?? 8);
const variant = process.env.BENCH_VARIANT ?? 'memory';
const app = fileURLToPath(new URL('./e2e-app/dist/main.js', import.meta.url));
const preload = new URL('./lib/time-guard.mjs', import.meta.url).href;

const server = spawn(process.execPath, ['--import', preload, app], {
  env: { ...process.env, BENCH_VARIANT: variant, PORT: '0' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let report = '';
server.stderr.on('data', (chunk) => (report += chunk));
const url = await new Promise((resolve, reject) => {
  let output = '';
  server.stdout.on('data', (chunk) => {
    output += chunk;
    const match = /listening (\S+)/.exec(output);
    if (match !== null) resolve(match[1]);
  });
  server.once('exit', (code) => reject(new Error(`server exited with ${code}: ${report}`)));
});

const body = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'bench.echo', arguments: { text: 'hello' } },
});
const load = (duration) =>
  new Promise((resolve, reject) =>
    autocannon(
      {
        url,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body,
        connections: 32,
        duration,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    ),
  );
await load(4);
const result = await load(SECONDS);
const exited = new Promise((resolve) => server.once('exit', resolve));
server.kill('SIGINT');
await exited;
console.log(
  `${variant}: ${Math.round(result.requests.average)} requests/s; guard per call: ${report.trim()}`,
);

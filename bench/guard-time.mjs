// How long the guard takes per call inside a loaded MCP-Nest server (not part of `npm run bench`).
// Starts bench/e2e-app (variant `memory` unless BENCH_VARIANT says otherwise) as the e2e benchmark
// does, with a preload that times McpRateLimitGuard.canActivate; loads it with the e2e benchmark's
// tools/call (32 connections, 4 s warm-up, then GUARD_TIME_SECONDS), and prints the mean wall time
// per call, by execution context (`http`: the MCP endpoint, `rpc`: the tool). A request pays both.
// Run after `npm run build` and compiling bench/e2e-app (npm run bench does):
// node bench/guard-time.mjs
//
// Why: in a loaded server our code runs with cold caches, many times slower than in a
// micro-benchmark (`req.ip` took about 0.1 µs in a loop and about 4 µs here), so the end-to-end
// cost has to be read where it is paid.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load, startServer } from './e2e.bench.mjs';

const SECONDS = Number(process.env.GUARD_TIME_SECONDS ?? 8);
const variant = process.env.BENCH_VARIANT ?? 'memory';
const preload = new URL('./lib/time-guard.mjs', import.meta.url).href;
const directory = mkdtempSync(join(tmpdir(), 'guard-time-'));
// The preload writes its figures there when the server is stopped.
process.env.GUARD_TIME_REPORT = join(directory, 'report.txt');

try {
  const server = await startServer(variant, undefined, ['--import', preload]);
  let result;
  try {
    await load(server.url, 4);
    result = await load(server.url, SECONDS);
  } finally {
    await server.stop();
  }
  const report = readFileSync(process.env.GUARD_TIME_REPORT, 'utf8');
  console.log(
    `${variant}: ${Math.round(result.requests.average)} requests/s; guard per call: ${report}`,
  );
} finally {
  rmSync(directory, { recursive: true, force: true });
}

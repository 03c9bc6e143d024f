// End-to-end benchmark (issue 6): MCP tools/call JSON-RPC POSTs over HTTP (Streamable HTTP, as
// the sample app serves them) with autocannon, against the same Nest + MCP-Nest server without any
// limiter, with our limiter on the tool (in-memory store, Redis store) and with @nestjs/throttler's
// guard on the endpoint. Limits are high enough that every call is admitted.
//
// Every server is started here on a loopback port (bench/e2e-app, compiled first) and stopped at the
// end; the loads are bounded (BENCH_E2E_SECONDS per run). Run alone: node bench/e2e.bench.mjs.
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { formatRate, formatRatio, log, median, medianRatio, rotate } from './lib/harness.mjs';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const { fetch } = globalThis;

const SECONDS = Number(process.env.BENCH_E2E_SECONDS ?? 2);
const WARMUP_SECONDS = Number(process.env.BENCH_E2E_WARMUP_SECONDS ?? 6);
const ROUNDS = Number(process.env.BENCH_E2E_ROUNDS ?? 32);
const CONNECTIONS = Number(process.env.BENCH_E2E_CONNECTIONS ?? 32);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const appDirectory = fileURLToPath(new URL('./e2e-app/', import.meta.url));

const VARIANTS = [
  { variant: 'none', name: 'no limiter' },
  { variant: 'memory', name: 'ours, in-memory store' },
  { variant: 'redis', name: 'ours, Redis store' },
  { variant: 'throttler', name: '@nestjs/throttler (ThrottlerGuard, in-memory)' },
];

const CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'bench.echo', arguments: { text: 'hello' } },
});
const HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
};

function compileApp() {
  const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
  execFileSync(process.execPath, [tsc, '-p', `${appDirectory}tsconfig.json`], { stdio: 'inherit' });
}

/**
 * With two CPUs or more allowed to this process and `taskset` at hand, the servers run on the last
 * allowed CPU and this process (the load generator) on the first, so the two never compete for one
 * CPU and the scheduler does not move them around: on a 2-core machine that narrowed the spread of
 * the per-round ratios by about half. Redis (for the Redis variant) is not pinned.
 * BENCH_E2E_PIN=0 turns it off.
 */
function pinning() {
  if (process.env.BENCH_E2E_PIN === '0') return undefined;
  try {
    // "pid 123's current affinity list: 0-3,6" → [0, 1, 2, 3, 6]
    const listed = execFileSync('taskset', ['-p', '-c', String(process.pid)], { encoding: 'utf8' });
    const cpus = listed
      .slice(listed.lastIndexOf(':') + 1)
      .trim()
      .split(',')
      .flatMap((range) => {
        const [first, last = first] = range.split('-').map(Number);
        return Array.from({ length: last - first + 1 }, (_, index) => first + index);
      });
    if (cpus.length < 2 || cpus.some((cpu) => !Number.isInteger(cpu))) return undefined;
    const [generatorCpu, serverCpu] = [cpus[0], cpus[cpus.length - 1]];
    execFileSync('taskset', ['-a', '-p', '-c', String(generatorCpu), String(process.pid)], {
      stdio: 'ignore',
    });
    return { generatorCpu: String(generatorCpu), serverCpu: String(serverCpu) };
  } catch {
    return undefined; // no taskset here
  }
}

/** Start one server; resolves to { url, stop } once it listens. */
function startServer(variant, pinned) {
  return new Promise((resolve, reject) => {
    const server = [`${appDirectory}dist/main.js`];
    const [command, args] =
      pinned === undefined
        ? [process.execPath, server]
        : ['taskset', ['-c', pinned.serverCpu, process.execPath, ...server]];
    const child = spawn(command, args, {
      env: { ...process.env, BENCH_VARIANT: variant, BENCH_REDIS_URL: REDIS_URL, PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${variant} server did not start within 60 s`));
    }, 60_000);
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = /listening (\S+)/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        const stop = () =>
          new Promise((done) => {
            child.once('exit', done);
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
          });
        resolve({ url: match[1], stop });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${variant} server exited with ${code} before listening`));
    });
  });
}

/** One call answered as a successful tool result, or an error saying what came back. */
async function checkCall(url) {
  const response = await fetch(url, { method: 'POST', headers: HEADERS, body: CALL });
  const body = await response.text();
  if (response.status !== 200 || !body.includes('"text":"hello"')) {
    throw new Error(`unexpected answer ${response.status}: ${body.slice(0, 200)}`);
  }
}

function load(url, seconds) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        method: 'POST',
        headers: HEADERS,
        body: CALL,
        connections: CONNECTIONS,
        duration: seconds,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
}

export async function run() {
  log('e2e: compiling bench/e2e-app');
  compileApp();
  const pinned = pinning();
  const servers = [];
  const skipped = [];
  try {
    for (const entry of VARIANTS) {
      try {
        const server = await startServer(entry.variant, pinned);
        servers.push({ ...entry, ...server });
        await checkCall(server.url);
      } catch (error) {
        // Only the Redis variant may be missing (no Redis); anything else is a real failure.
        if (entry.variant !== 'redis') throw error;
        skipped.push(`${entry.name}: not measured (${error.message})`);
      }
    }
    for (const server of servers) {
      log(`e2e: warm-up ${server.name}`);
      await load(server.url, WARMUP_SECONDS);
    }
    const rates = new Map(servers.map((server) => [server.name, []]));
    const problems = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order each round, as the micro-benchmarks do.
      const order = rotate(servers, round % servers.length);
      for (const server of order) {
        const result = await load(server.url, SECONDS);
        if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
          problems.push(
            `${server.name}, round ${round + 1}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`,
          );
        }
        rates.get(server.name).push(result.requests.total / (result.duration || SECONDS));
      }
      log(`e2e: round ${round + 1} of ${ROUNDS} done`);
    }
    // Still admitted after the load (nothing was denied or broken along the way).
    for (const server of servers) await checkCall(server.url);

    const baseline = rates.get('no limiter');
    const ratioTo = (name) => medianRatio(rates, name, 'no limiter');
    const memory = ratioTo('ours, in-memory store');
    const redis = ratioTo('ours, Redis store');
    const throttler = ratioTo(VARIANTS[3].name);
    return {
      title: 'End to end: MCP tools/call over HTTP (issue 6)',
      intro: [
        `autocannon, ${CONNECTIONS} connections, POST /mcp with a JSON-RPC \`tools/call\` of one tool (Streamable HTTP, stateless JSON answers) against a Nest 12 + MCP-Nest server set up like the sample app (bench/e2e-app), one process per variant, all on loopback. Each variant gets ${WARMUP_SECONDS} s of warm-up, then ${ROUNDS} rounds of ${SECONDS} s, the order rotating every round. ${pinned === undefined ? 'The load generator and the server share the cores (not pinned).' : `The servers run on CPU ${pinned.serverCpu} and the load generator on CPU ${pinned.generatorCpu} (taskset), so they never compete for one CPU; Redis is not pinned.`}`,
        "Ours: `McpRateLimitModule.forRoot({ registerGlobally: true })` and `@RateLimit(new FixedWindowRateLimit(...))` on the tool (anonymous calls, keyed by IP); with Redis, the app's cache is `@keyv/redis` and the module uses the Redis store. Throttler: `ThrottlerModule.forRoot([{ ttl: 60000, limit }])` with `ThrottlerGuard` on the MCP endpoint. Limits of 1,000,000,000 per 60 s: every call is checked and admitted.",
      ],
      targets: [
        {
          name: 'in-memory store vs no limiter (requests/s ratio)',
          value: formatRatio(memory),
          target: '≥ 0.97×',
          met: memory >= 0.97,
        },
        {
          name: 'Redis store vs no limiter (requests/s ratio)',
          value: formatRatio(redis),
          target: '≥ 0.90×',
          met: redis >= 0.9,
        },
      ],
      tables: [
        {
          columns: ['variant', 'requests/s (median)', 'range over rounds', 'vs no limiter'],
          rows: servers.map((server) => {
            const list = rates.get(server.name);
            return [
              server.name,
              formatRate(median(list)),
              `${formatRate(Math.min(...list))} – ${formatRate(Math.max(...list))}`,
              formatRatio(ratioTo(server.name)),
            ];
          }),
        },
      ],
      notes: [
        `@nestjs/throttler vs no limiter: ${formatRatio(throttler)}; ours (in-memory) vs @nestjs/throttler: ${formatRatio(memory / throttler)} (ratio of the medians of the per-round ratios).`,
        // The spread shows how far one round can be trusted on this machine.
        ...servers
          .filter((server) => server.name !== 'no limiter')
          .map(
            (server) =>
              `${server.name} vs no limiter, round by round: ${rates
                .get(server.name)
                .map((rate, round) => (rate / baseline[round]).toFixed(2))
                .join(', ')}.`,
          ),
        ...skipped,
        ...(problems.length === 0
          ? ['Every response was a 2xx; no errors or timeouts.']
          : problems),
      ],
    };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { renderSection } = await import('./lib/report.mjs');
  console.log(renderSection(await run()));
}

// End-to-end benchmark (issue 6): MCP tools/call JSON-RPC POSTs over HTTP (Streamable HTTP, as
// the sample app serves them) with autocannon, against the same Nest + MCP-Nest server without any
// limiter, with our limiter on the tool (in-memory store, Redis store) and with @nestjs/throttler's
// guard on the endpoint. Limits are high enough that every call is admitted.
//
// Every server is started here on a loopback port (bench/e2e-app, compiled first) and stopped at the
// end; the loads are bounded (BENCH_E2E_SECONDS per run). Run alone: node bench/e2e.bench.mjs.
//
// Two ways of measuring, because one server process is measurably luckier than another of the same
// code (JIT and memory layout: two 'no limiter' servers differed by up to 10 % for their whole
// life on this machine):
// - sequential, the headline: each variant alone, in rotating order, in several epochs of fresh
//   server processes, so that no single process's luck decides a ratio;
// - simultaneous: the limited server and a 'no limiter' server on the same CPU, loaded at the same
//   moments, so that whatever the machine does affects both alike. Two identical servers measured
//   this way came out within 1 % of each other; a server's cost also includes what sharing a CPU
//   (its caches) with another costs, so it tends to count a larger program's cost a little higher.
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { formatRate, formatRatio, log, median, medianRatio, rotate } from './lib/harness.mjs';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const { fetch } = globalThis;

const SECONDS = Number(process.env.BENCH_E2E_SECONDS ?? 2);
const WARMUP_SECONDS = Number(process.env.BENCH_E2E_WARMUP_SECONDS ?? 4);
/** Epochs of fresh server processes, and rounds in each. */
const EPOCHS = Number(process.env.BENCH_E2E_EPOCHS ?? 5);
const ROUNDS = Number(process.env.BENCH_E2E_ROUNDS ?? 5);
/** The simultaneous measurement: epochs, rounds in each and seconds per round (0 epochs: off). */
const PAIRED_EPOCHS = Number(process.env.BENCH_E2E_PAIRED_EPOCHS ?? 4);
const PAIRED_ROUNDS = Number(process.env.BENCH_E2E_PAIRED_ROUNDS ?? 5);
const PAIRED_SECONDS = Number(process.env.BENCH_E2E_PAIRED_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_E2E_CONNECTIONS ?? 32);
/**
 * The fixed-rate measurement (the Redis store's cost): epochs of fresh servers, rounds in each,
 * seconds per round, and the rate as a share of the 'no limiter' server's saturated requests/s.
 */
const FIXED_EPOCHS = Number(process.env.BENCH_E2E_FIXED_EPOCHS ?? 3);
const FIXED_ROUNDS = Number(process.env.BENCH_E2E_FIXED_ROUNDS ?? 3);
const FIXED_SECONDS = Number(process.env.BENCH_E2E_FIXED_SECONDS ?? 3);
const FIXED_SHARE = Number(process.env.BENCH_E2E_FIXED_SHARE ?? 0.7);
/**
 * The one-connection fixed rate (the Redis store's target): requests/s, far below what one
 * connection can reach, so that every request is alone in its event-loop turns.
 */
const LONE_RATE = Number(process.env.BENCH_E2E_LONE_RATE ?? 250);
/** The variants measured at the one-connection fixed rate. */
const LONE_VARIANTS = ['none', 'memory', 'redis', 'redis-incr'];
/** The reference guard that awaits one Redis INCR per call (one-connection view only). */
const INCR_REFERENCE = 'reference: a guard that awaits one Redis INCR';
/** The variants that wait on Redis: their CPU per request includes Redis's. */
const REDIS_VARIANTS = ['redis', 'redis-incr'];
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const appDirectory = fileURLToPath(new URL('./e2e-app/', import.meta.url));

const VARIANTS = [
  { variant: 'none', name: 'no limiter' },
  { variant: 'memory', name: 'ours, in-memory store' },
  { variant: 'redis', name: 'ours, Redis store' },
  { variant: 'throttler', name: '@nestjs/throttler (ThrottlerGuard, in-memory)' },
  { variant: 'memory-metrics', name: 'ours, in-memory store, OpenTelemetry metrics on' },
  // A reference, not a limiter: what Nest itself costs per call for any guard bound on the tool
  // (its guard pipeline, an execution context, an await), before a limiter does any work.
  { variant: 'noop-guard', name: 'reference: a guard that admits every call' },
  // A reference for the Redis store's cost over one connection (only there): what the cheapest
  // Redis round trip costs a request, whatever a limiter then does with it.
  {
    variant: 'redis-incr',
    name: INCR_REFERENCE,
    oneConnectionOnly: true,
  },
];

/**
 * BENCH_E2E_VARIANTS=memory,noop-guard measures only these variants beside 'no limiter' (every
 * ratio is to it), e.g. to compare two builds of one limiter in less time. Default: all.
 */
const SELECTED = (process.env.BENCH_E2E_VARIANTS ?? '')
  .split(',')
  .map((variant) => variant.trim())
  .filter((variant) => variant !== '');

/** Whether a line of `skipped` names this variant (`<name>: not measured (...)`). */
function isSkipped(entry, skipped) {
  // The name and its colon: 'ours, in-memory store' is the start of the metrics variant's name.
  return skipped.some((line) => line.startsWith(`${entry.name}:`));
}

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

export function compileApp() {
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

/**
 * Start one server; resolves to { url, stop } once it listens.
 * @param nodeArguments given to node before the app (bench/guard-time.mjs preloads a timer).
 */
export function startServer(variant, pinned, nodeArguments = []) {
  return new Promise((resolve, reject) => {
    const server = [...nodeArguments, `${appDirectory}dist/main.js`];
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
        resolve({ url: match[1], stop, pid: child.pid });
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

/** POST the tools/call for `seconds` over `connections`; resolves to autocannon's result. */
export function load(url, seconds, connections = CONNECTIONS, overallRate = undefined) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        method: 'POST',
        headers: HEADERS,
        body: CALL,
        connections,
        duration: seconds,
        ...(overallRate === undefined ? {} : { overallRate }),
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
}

/**
 * Start the servers of `entries` in this order. With `skipped` (a list), a Redis variant that
 * cannot start is left out and said so there; without it, every server must start.
 */
async function startServers(entries, pinned, skipped) {
  const servers = [];
  try {
    for (const entry of entries) {
      try {
        const server = await startServer(entry.variant, pinned);
        servers.push({ ...entry, ...server });
        await checkCall(server.url);
      } catch (error) {
        // Only the Redis variant may be missing (no Redis); anything else is a real failure.
        if (entry.variant !== 'redis' || skipped === undefined) throw error;
        if (!isSkipped(entry, skipped)) {
          skipped.push(`${entry.name}: not measured (${error.message})`);
        }
      }
    }
  } catch (error) {
    await Promise.all(servers.map((server) => server.stop()));
    throw error;
  }
  return servers;
}

function noteProblems(result, where, problems) {
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    problems.push(
      `${where}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`,
    );
  }
}

/**
 * Each variant alone, in rotating order: EPOCHS epochs of fresh servers (started in rotating
 * order), each warmed up, then ROUNDS rounds. Whether Redis is there is decided in the first
 * epoch: a variant measured in one epoch must be measured in all, since rounds are compared by
 * position. Returns name → requests/s per round (all epochs, in order) and the epoch of each round.
 */
async function measureSequential(pinned, skipped, problems) {
  const rates = new Map();
  // Per variant, the CPU seconds per request of the server, and of Redis for the Redis variant.
  const cpu = new Map();
  const redisPid = await redisProcessId();
  const epochOf = [];
  // A variant already known to be missing (no Redis) is not started at all.
  let variants = VARIANTS.filter((entry) => !isSkipped(entry, skipped) && !entry.oneConnectionOnly);
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    const order = rotate(variants, epoch % variants.length);
    const servers = await startServers(order, pinned, epoch === 0 ? skipped : undefined);
    if (epoch === 0)
      variants = variants.filter((entry) => servers.some((s) => s.name === entry.name));
    try {
      for (const server of servers) {
        if (!rates.has(server.name)) rates.set(server.name, []);
        await load(server.url, WARMUP_SECONDS);
      }
      for (let round = 0; round < ROUNDS; round++) {
        for (const server of rotate(servers, round % servers.length)) {
          const withRedis = REDIS_VARIANTS.includes(server.variant) && redisPid !== undefined;
          const cpuBefore = cpuSeconds(server.pid) + (withRedis ? cpuSeconds(redisPid) : 0);
          const result = await load(server.url, SECONDS);
          const cpuUsed =
            cpuSeconds(server.pid) + (withRedis ? cpuSeconds(redisPid) : 0) - cpuBefore;
          if (!cpu.has(server.name)) cpu.set(server.name, []);
          cpu.get(server.name).push(cpuUsed / Math.max(1, result.requests.total));
          noteProblems(result, `${server.name}, epoch ${epoch + 1}, round ${round + 1}`, problems);
          rates.get(server.name).push(result.requests.total / (result.duration || SECONDS));
        }
        epochOf.push(epoch);
      }
      // Still admitted after the load (nothing was denied or broken along the way).
      for (const server of servers) await checkCall(server.url);
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
    log(`e2e: sequential epoch ${epoch + 1} of ${EPOCHS} done`);
  }
  return { rates, epochOf, cpu };
}

/**
 * The in-memory variant and a 'no limiter' server side by side on the server CPU, loaded at the
 * same moments (half the connections each); epochs of fresh servers, started in alternating order.
 * Returns the ratio (ours / no limiter) of every round.
 */
async function measureSimultaneous(pinned, problems) {
  const ratios = [];
  const [baseline, ours] = [VARIANTS[0], VARIANTS[1]];
  for (let epoch = 0; epoch < PAIRED_EPOCHS; epoch++) {
    const order = epoch % 2 === 0 ? [baseline, ours] : [ours, baseline];
    const servers = await startServers(order, pinned);
    const [none, memory] = [baseline, ours].map((entry) =>
      servers.find((server) => server.variant === entry.variant),
    );
    try {
      const half = Math.max(1, CONNECTIONS >> 1);
      const both = (seconds) =>
        Promise.all([load(none.url, seconds, half), load(memory.url, seconds, half)]);
      await both(WARMUP_SECONDS * 2);
      for (let round = 0; round < PAIRED_ROUNDS; round++) {
        const [noneResult, memoryResult] = await both(PAIRED_SECONDS);
        noteProblems(noneResult, `simultaneous ${none.name}, epoch ${epoch + 1}`, problems);
        noteProblems(memoryResult, `simultaneous ${memory.name}, epoch ${epoch + 1}`, problems);
        ratios.push(memoryResult.requests.total / noneResult.requests.total);
      }
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
    log(`e2e: simultaneous epoch ${epoch + 1} of ${PAIRED_EPOCHS} done`);
  }
  return ratios;
}

/**
 * Every variant at the same fixed request rate, below what any of them can serve: each server
 * then does the same work per second, so its CPU per request (with Redis's own CPU for the Redis
 * variant) is its cost, and latency is comparable. At saturation a server that awaits Redis runs
 * differently shaped event-loop turns than one that answers at once (see the notes), so
 * requests/s there does not measure what a check costs. Returns, per variant, per round: CPU
 * seconds per request, latency p50 and p99 (ms), and the rate achieved.
 */
async function measureFixedRate(pinned, rate, skipped, problems, connections = CONNECTIONS) {
  const perVariant = new Map();
  const redisPid = await redisProcessId();
  const variants = VARIANTS.filter(
    (entry) =>
      !isSkipped(entry, skipped) &&
      (connections === 1 ? LONE_VARIANTS.includes(entry.variant) : !entry.oneConnectionOnly),
  );
  for (let epoch = 0; epoch < FIXED_EPOCHS; epoch++) {
    const servers = await startServers(rotate(variants, epoch % variants.length), pinned);
    try {
      for (const server of servers) await load(server.url, WARMUP_SECONDS, connections, rate);
      for (let round = 0; round < FIXED_ROUNDS; round++) {
        for (const server of rotate(servers, round % servers.length)) {
          const withRedis = REDIS_VARIANTS.includes(server.variant) && redisPid !== undefined;
          // Redis's own account (INFO cpu, microseconds): /proc's 10 ms ticks are too coarse for
          // the few milliseconds a round's calls cost it.
          const redisCpu = () => (withRedis ? redisCpuSeconds() : 0);
          const cpuBefore = cpuSeconds(server.pid) + (await redisCpu());
          const result = await load(server.url, FIXED_SECONDS, connections, rate);
          const cpuUsed = cpuSeconds(server.pid) + (await redisCpu()) - cpuBefore;
          const view = connections === 1 ? 'one connection' : `${connections} connections`;
          noteProblems(
            result,
            `fixed rate (${view}), ${server.name}, epoch ${epoch + 1}`,
            problems,
          );
          if (!perVariant.has(server.name)) perVariant.set(server.name, []);
          perVariant.get(server.name).push({
            cpu: cpuUsed / Math.max(1, result.requests.total),
            p50: result.latency.p50,
            p99: result.latency.p99,
            achieved: result.requests.total / (result.duration || FIXED_SECONDS),
          });
        }
      }
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
    log(`e2e: fixed-rate epoch ${epoch + 1} of ${FIXED_EPOCHS} (${connections} connections) done`);
  }
  return perVariant;
}

/** CPU seconds (user + system) a process has used so far, from /proc; NaN where there is none. */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ
  } catch {
    return NaN;
  }
}

/**
 * Asks the Redis at BENCH_REDIS_URL for an INFO section and answers what `read` finds in the reply
 * (called with the reply so far until it finds something), or `otherwise` when Redis does not say.
 */
function fromRedisInfo(section, read, otherwise) {
  const { hostname, port } = new URL(REDIS_URL);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 6379) });
    let answer = '';
    const done = (value) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(2_000, () => done(otherwise));
    socket.once('error', () => done(otherwise));
    socket.once('connect', () => socket.write(`INFO ${section}\r\n`));
    socket.on('data', (data) => {
      answer += String(data);
      const found = read(answer);
      if (found !== undefined) done(found);
    });
  });
}

/** The pid of the Redis at BENCH_REDIS_URL (INFO server), when it runs on this machine. */
function redisProcessId() {
  return fromRedisInfo(
    'server',
    (answer) => {
      const match = /process_id:(\d+)/.exec(answer);
      if (match === null) return undefined;
      return Number.isNaN(cpuSeconds(match[1])) ? null : Number(match[1]);
    },
    undefined,
  ).then((pid) => pid ?? undefined);
}

/** CPU seconds (user + system) the Redis at BENCH_REDIS_URL has used so far (INFO cpu). */
function redisCpuSeconds() {
  return fromRedisInfo(
    'cpu',
    (answer) => {
      const system = /used_cpu_sys:([\d.]+)/.exec(answer);
      const user = /used_cpu_user:([\d.]+)/.exec(answer);
      return system === null || user === null ? undefined : Number(system[1]) + Number(user[1]);
    },
    NaN,
  );
}

/**
 * Whether Redis answers at BENCH_REDIS_URL. Without it the Redis variant would still start and
 * answer (the outage policy decides in memory), and its row would measure something else.
 */
function redisAnswers() {
  const { hostname, port } = new URL(REDIS_URL);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 6379) });
    const done = (answered) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(String(data).startsWith('+PONG')));
  });
}

/** A fixed-rate table: CPU per request, its cost against no limiter, latency, rate achieved. */
function fixedRateTable(title, measured, ratios) {
  return {
    title,
    columns: [
      'variant',
      'CPU µs per request (server, + Redis)',
      'cost: no limiter / ours',
      'latency p50 (ms)',
      'latency p99 (ms)',
      'requests/s achieved',
    ],
    rows: VARIANTS.map((entry) => entry.name)
      .filter((name) => measured.has(name))
      .map((name) => {
        const list = measured.get(name);
        return [
          name,
          (median(list.map((round) => round.cpu)) * 1e6).toFixed(1),
          formatRatio(median(ratios(name))),
          String(median(list.map((round) => round.p50))),
          String(median(list.map((round) => round.p99))),
          formatRate(median(list.map((round) => round.achieved))),
        ];
      }),
  };
}

export async function run() {
  log('e2e: compiling bench/e2e-app');
  compileApp();
  const pinned = pinning();
  const skipped = VARIANTS.filter(
    (entry) => SELECTED.length > 0 && entry.variant !== 'none' && !SELECTED.includes(entry.variant),
  ).map((entry) => `${entry.name}: not measured (BENCH_E2E_VARIANTS)`);
  const redisVariants = VARIANTS.filter((entry) => REDIS_VARIANTS.includes(entry.variant));
  if (redisVariants.some((entry) => !isSkipped(entry, skipped)) && !(await redisAnswers())) {
    for (const entry of redisVariants) {
      if (!isSkipped(entry, skipped)) {
        skipped.push(`${entry.name}: not measured (no Redis answers at ${REDIS_URL})`);
      }
    }
  }
  const problems = [];
  const { rates, epochOf, cpu } = await measureSequential(pinned, skipped, problems);
  const paired =
    PAIRED_EPOCHS > 0 && !isSkipped(VARIANTS[1], skipped)
      ? await measureSimultaneous(pinned, problems)
      : [];
  const fixedRate = Math.round(median(rates.get('no limiter')) * FIXED_SHARE);
  const fixed =
    FIXED_EPOCHS > 0 ? await measureFixedRate(pinned, fixedRate, skipped, problems) : new Map();
  const lone =
    FIXED_EPOCHS > 0 ? await measureFixedRate(pinned, LONE_RATE, skipped, problems, 1) : new Map();
  // Cost at a fixed rate: the 'no limiter' server's CPU per request over the variant's, round by
  // round (1.00x: no cost; 0.90x: the variant needs 11 % more CPU per request).
  const costRatios = (measured, name) =>
    (measured.get(name) ?? []).map(
      (round, index) => measured.get('no limiter')[index].cpu / round.cpu,
    );
  const fixedRatios = (name) => costRatios(fixed, name);
  const loneRatios = (name) => costRatios(lone, name);
  const redisCost = lone.has('ours, Redis store') ? median(loneRatios('ours, Redis store')) : NaN;
  const redisCostBatched = fixed.has('ours, Redis store')
    ? median(fixedRatios('ours, Redis store'))
    : NaN;

  const names = VARIANTS.map((entry) => entry.name).filter((name) => rates.has(name));
  const baseline = rates.get('no limiter');
  const ratioTo = (name) => medianRatio(rates, name, 'no limiter');
  const memory = ratioTo('ours, in-memory store');
  const withMetrics = ratioTo(VARIANTS[4].name);
  const redis = ratioTo('ours, Redis store');
  const throttler = ratioTo(VARIANTS[3].name);
  const pairedMemory = paired.length === 0 ? NaN : median(paired);
  const perEpoch = (name) =>
    Array.from({ length: EPOCHS }, (_, epoch) =>
      median(
        rates
          .get(name)
          .map((rate, round) => rate / baseline[round])
          .filter((_, round) => epochOf[round] === epoch),
      ).toFixed(2),
    ).join(', ');
  return {
    title: 'End to end: MCP tools/call over HTTP (issue 6)',
    intro: [
      `autocannon, ${CONNECTIONS} connections, POST /mcp with a JSON-RPC \`tools/call\` of one tool (Streamable HTTP, stateless JSON answers) against a Nest 12 + MCP-Nest server set up like the sample app (bench/e2e-app), one process per variant, all on loopback. ${pinned === undefined ? 'The load generator and the servers share the cores (not pinned).' : `The servers run on CPU ${pinned.serverCpu} and the load generator on CPU ${pinned.generatorCpu} (taskset), so they never compete for one CPU; Redis is not pinned.`}`,
      `Sequential (the targets): ${EPOCHS} epochs of fresh server processes (one per variant, started in rotating order), each warmed up for ${WARMUP_SECONDS} s, then ${ROUNDS} rounds of ${SECONDS} s per variant, one variant loaded at a time, the order rotating every round. A ratio is computed within each round and the median over all ${EPOCHS * ROUNDS} rounds is reported: fresh processes every epoch, because one process of the same code can run a few per cent faster or slower than another for its whole life.`,
      `Simultaneous (a second view of the in-memory target): ours (in memory) and a 'no limiter' server on the same server CPU, loaded at the same moments with ${Math.max(1, CONNECTIONS >> 1)} connections each, ${PAIRED_EPOCHS} epochs of fresh processes × ${PAIRED_ROUNDS} rounds of ${PAIRED_SECONDS} s. The machine's moods then hit both alike; sharing one CPU's caches also makes a bigger program pay a little more than it would alone.`,
      `Fixed rate, two views: every variant, fresh processes, loaded at ${Math.round(FIXED_SHARE * 100)} % of the no-limiter server's median saturated requests/s over ${CONNECTIONS} connections; and (the Redis store's target) no limiter, ours in memory, ours on Redis and a reference guard that awaits one Redis INCR at ${LONE_RATE} requests/s over one connection, so that every request is alone in its event-loop turns (autocannon \`overallRate\`). CPU per request: the server's from /proc, plus the Redis server's from its INFO cpu for the variants that call Redis; autocannon's latency percentiles.`,
      "Ours: `McpRateLimitModule.forRoot()` and `@RateLimit(new FixedWindowRateLimit(...))` on the tool (the decorator binds the guard) (anonymous calls, keyed by IP); with Redis, the app's cache is `@keyv/redis` and the module uses the Redis store. Throttler: `ThrottlerModule.forRoot([{ ttl: 60000, limit }])` with `ThrottlerGuard` on the MCP endpoint. Limits of 1,000,000,000 per 60 s: every call is checked and admitted.",
    ],
    targets: [
      {
        name: 'in-memory store vs no limiter (requests/s ratio, sequential)',
        value: formatRatio(memory),
        target: '≥ 0.97×',
        met: memory >= 0.97,
      },
      {
        name: 'in-memory store with OpenTelemetry metrics on vs no limiter (requests/s ratio, sequential)',
        value: formatRatio(withMetrics),
        target: '≥ 0.97×',
        met: withMetrics >= 0.97,
      },
      {
        name: 'Redis store vs no limiter (CPU per request at a fixed rate, one connection, Redis included: no limiter / ours)',
        value: formatRatio(redisCost),
        target: '≥ 0.90×',
        met: redisCost >= 0.9,
      },
    ],
    tables: [
      {
        title: 'Sequential',
        columns: ['variant', 'requests/s (median)', 'range over rounds', 'vs no limiter'],
        rows: names.map((name) => {
          const list = rates.get(name);
          return [
            name,
            formatRate(median(list)),
            `${formatRate(Math.min(...list))} – ${formatRate(Math.max(...list))}`,
            formatRatio(ratioTo(name)),
          ];
        }),
      },
      {
        // Requests/s alone can flatter a variant that waits on another process: Redis runs on a
        // CPU of its own, and a server that awaits it handles requests in larger event-loop turns.
        // CPU per request, the server's plus Redis's, counts every bit of work a request causes.
        title:
          'CPU per request (server process, plus Redis for the Redis variant), sequential rounds',
        columns: ['variant', 'CPU µs per request (median)', 'vs no limiter'],
        rows: names
          .filter((name) => cpu.has(name))
          .map((name) => [
            name,
            (median(cpu.get(name)) * 1e6).toFixed(1),
            formatRatio(median(cpu.get(name)) / median(cpu.get('no limiter'))),
          ]),
      },
      fixedRateTable(
        `Fixed rate, one connection: loaded at ${formatRate(LONE_RATE)} requests/s, ${FIXED_EPOCHS} epochs × ${FIXED_ROUNDS} rounds of ${FIXED_SECONDS} s`,
        lone,
        loneRatios,
      ),
      fixedRateTable(
        `Fixed rate, ${CONNECTIONS} connections: every variant loaded at ${formatRate(fixedRate)} requests/s (${Math.round(FIXED_SHARE * 100)} % of the no-limiter server's saturated rate), ${FIXED_EPOCHS} epochs × ${FIXED_ROUNDS} rounds of ${FIXED_SECONDS} s`,
        fixed,
        fixedRatios,
      ),
      {
        title: 'Simultaneous (in-memory store vs no limiter, same CPU, same moments)',
        columns: ['ratio (median of rounds)', 'rounds', 'range over rounds'],
        rows:
          paired.length === 0
            ? [['not measured (BENCH_E2E_PAIRED_EPOCHS=0)', '', '']]
            : [
                [
                  formatRatio(pairedMemory),
                  String(paired.length),
                  `${formatRatio(Math.min(...paired))} – ${formatRatio(Math.max(...paired))}`,
                ],
              ],
      },
    ],
    notes: [
      `@nestjs/throttler vs no limiter: ${formatRatio(throttler)}; ours (in-memory) vs @nestjs/throttler: ${formatRatio(memory / throttler)} (ratio of the medians of the per-round ratios).`,
      ...(rates.has(VARIANTS[5].name)
        ? [
            `A guard that does nothing but admit (bound on the tool as ours is) vs no limiter: ${formatRatio(ratioTo(VARIANTS[5].name))}; ours (in-memory) vs that guard: ${formatRatio(medianRatio(rates, 'ours, in-memory store', VARIANTS[5].name))}, what our check adds beyond what Nest costs for any guard.`,
          ]
        : []),
      // The spread shows how far one round, and one process, can be trusted on this machine.
      ...names
        .filter((name) => name !== 'no limiter')
        .flatMap((name) => [
          `${name} vs no limiter, round by round: ${rates
            .get(name)
            .map((rate, round) => (rate / baseline[round]).toFixed(2))
            .join(', ')}; median of each epoch: ${perEpoch(name)}.`,
        ]),
      ...(paired.length === 0
        ? []
        : [
            `Simultaneous, in-memory vs no limiter, round by round: ${paired.map((ratio) => ratio.toFixed(2)).join(', ')}.`,
          ]),
      ...(lone.has('ours, Redis store')
        ? [
            `Why the Redis store's cost is measured at a fixed rate over one connection: a server that awaits Redis in its guard lets the requests that arrive meanwhile pile up, and handles them together in fewer, larger event-loop turns (their reads, their Redis calls, their writes), which costs less per request than a turn for each. With many connections that happens at a fixed rate too: at ${CONNECTIONS} connections the Redis variant's cost (no limiter's CPU per request / its own) came out ${formatRatio(redisCostBatched)} (round by round: ${fixedRatios(
              'ours, Redis store',
            )
              .map((ratio) => ratio.toFixed(2))
              .join(
                ', ',
              )}), and at saturation ${formatRatio(redis)} its requests/s with ${formatRatio(median(cpu.get('ours, Redis store')) / median(cpu.get('no limiter')))} its CPU per request, which no added check can really do. Over one connection at a low rate every request has its turns to itself in every variant, so the difference in CPU per request (server + Redis) is what the check adds: the round trip to Redis, its script, and the extra event-loop turn that waits for the reply. Round by round: ${loneRatios(
              'ours, Redis store',
            )
              .map((ratio) => ratio.toFixed(2))
              .join(', ')}.`,
          ]
        : []),
      ...(lone.has(INCR_REFERENCE) && lone.has('ours, Redis store')
        ? [
            `The round trip alone, over one connection: a guard that awaits one Redis INCR per call (node-redis) costs ${formatRatio(median(loneRatios(INCR_REFERENCE)))} of no limiter (CPU per request, server + Redis; round by round: ${loneRatios(
              INCR_REFERENCE,
            )
              .map((ratio) => ratio.toFixed(2))
              .join(
                ', ',
              )}); ours on Redis costs ${formatRatio(median(lone.get('ours, Redis store').map((round, index) => lone.get(INCR_REFERENCE)[index].cpu / round.cpu)))} of that guard: what the Redis store adds beyond the cheapest round trip (its script, its outage policy, the engine).`,
          ]
        : []),
      ...skipped,
      ...(problems.length === 0 ? ['Every response was a 2xx; no errors or timeouts.'] : problems),
    ],
  };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { renderSection } = await import('./lib/report.mjs');
  console.log(renderSection(await run()));
}

// npm run bench: build the package if dist is missing or older than its sources, run every
// benchmark under bench/ (each in a process of its own, one after the other), and write
// BENCHMARKS.md with the machine, the command and the tables.
//
//   npm run bench                      every benchmark, BENCHMARKS.md rewritten
//   npm run bench -- --only core,memory  some of them (the file says it is a partial run)
//   npm run bench -- --build           rebuild first even if dist looks current
//   npm run bench -- --out other.md    write elsewhere
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem, type as osType } from 'node:os';
import { join } from 'node:path';
import { normalizeSection, renderSection } from '../bench/lib/report.mjs';
import { markdownTable } from '../bench/lib/harness.mjs';

const root = new URL('..', import.meta.url).pathname;
process.chdir(root);

/** The benchmarks, in the order they run and appear. A missing file is reported as pending. */
const BENCHMARKS = [
  {
    name: 'core',
    file: 'bench/core.bench.mjs',
    title: 'Core micro-benchmarks (MemoryStore, issue 3)',
    timeoutMs: 180_000,
  },
  {
    name: 'memory',
    file: 'bench/memory.bench.mjs',
    title: 'Memory (MemoryStore, issue 6)',
    timeoutMs: 480_000,
  },
  {
    name: 'redis',
    file: 'bench/redis-store.bench.mjs',
    title: 'Redis store (issue 5)',
    timeoutMs: 180_000,
  },
  {
    name: 'guard',
    file: 'bench/guard-time.mjs',
    title: 'Guard time per request in a loaded server (in-memory store)',
    timeoutMs: 180_000,
  },
  {
    name: 'e2e',
    file: 'bench/e2e.bench.mjs',
    title: 'End to end: MCP tools/call over HTTP (issue 6)',
    timeoutMs: 1_500_000,
  },
];

function parseArguments(argv) {
  const options = { only: undefined, build: false, out: 'BENCHMARKS.md' };
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index];
    if (argument === '--build') options.build = true;
    else if (argument === '--only') options.only = argv[++index].split(',');
    else if (argument === '--out') options.out = argv[++index];
    else
      throw new Error(`unknown argument ${argument} (expected --only a,b | --build | --out file)`);
  }
  return options;
}

/** Newest modification time (ms) of the files under `path`. */
function newestMtime(path) {
  const stats = statSync(path);
  if (!stats.isDirectory()) return stats.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

function distIsCurrent() {
  const outputs = ['dist/esm/index.js', 'dist/cjs/index.js'];
  if (!outputs.every((file) => existsSync(file))) return false;
  const built = Math.min(...outputs.map((file) => statSync(file).mtimeMs));
  const inputs = [
    'src',
    'scripts/build.mjs',
    'tsconfig.json',
    'tsconfig.build.json',
    'tsconfig.build.cjs.json',
  ];
  return Math.max(...inputs.filter((path) => existsSync(path)).map(newestMtime)) <= built;
}

function machine() {
  const processors = cpus();
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bench', 'scripts'], {
      encoding: 'utf8',
    });
    if (dirty.trim() !== '') commit += ' (with uncommitted changes)';
  } catch {
    // Not a git checkout: the commit stays unknown.
  }
  return {
    cpu: processors[0]?.model.trim() ?? 'unknown',
    cores: processors.length,
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    os: `${osType()} ${release()}`,
    commit,
  };
}

/** Run one benchmark module in a child process; resolves to its section (or a failure note). */
function runBenchmark(benchmark) {
  const directory = mkdtempSync(join(tmpdir(), 'bench-'));
  const output = join(directory, 'result.json');
  return new Promise((resolvePromise) => {
    const started = Date.now();
    // A group of its own, so that a timeout also stops the processes it started (servers, the
    // core benchmark's children), which would otherwise weigh on the next benchmark.
    const child = spawn(process.execPath, ['bench/lib/run-module.mjs', benchmark.file, output], {
      stdio: ['ignore', 'inherit', 'inherit'],
      detached: true,
    });
    const timer = setTimeout(() => process.kill(-child.pid, 'SIGKILL'), benchmark.timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const seconds = ((Date.now() - started) / 1000).toFixed(0);
      let section;
      if (code === 0 && existsSync(output)) {
        section = normalizeSection(JSON.parse(readFileSync(output, 'utf8')), benchmark.title);
      } else {
        const why =
          signal === 'SIGKILL'
            ? `timed out after ${benchmark.timeoutMs / 1000} s`
            : `exited with ${code ?? signal}`;
        section = {
          title: benchmark.title,
          notes: [
            `**Not measured**: \`${benchmark.file}\` ${why} (its output is in the console log of the run).`,
          ],
        };
      }
      rmSync(directory, { recursive: true, force: true });
      resolvePromise({ ...section, seconds });
    });
  });
}

const options = parseArguments(process.argv.slice(2));
if (options.build || !distIsCurrent()) {
  console.log('> npm run build');
  execFileSync('npm', ['run', 'build'], { stdio: 'inherit' });
}

const host = machine();
const loadBefore = loadavg();
const startedAt = new Date();
const sections = [];
for (const benchmark of BENCHMARKS) {
  if (options.only !== undefined && !options.only.includes(benchmark.name)) continue;
  if (!existsSync(benchmark.file)) {
    sections.push({
      title: benchmark.title,
      notes: [`Pending: \`${benchmark.file}\` does not exist yet.`],
    });
    continue;
  }
  console.log(`> ${benchmark.name}: node ${benchmark.file}`);
  sections.push(await runBenchmark(benchmark));
}
const loadAfter = loadavg();
const totalSeconds = ((Date.now() - startedAt.getTime()) / 1000).toFixed(0);

const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const targets = sections.flatMap((section) =>
  (section.targets ?? []).map((target) => [section.title, target]),
);
const lines = [
  '# Benchmarks',
  '',
  `Generated by \`${command}\` (scripts/bench.mjs) on ${startedAt.toISOString()}, in ${totalSeconds} s. Do not edit by hand: run it again.`,
  options.only === undefined ? '' : `\n**Partial run**: only ${options.only.join(', ')}.`,
  '',
  markdownTable(
    ['machine', ''],
    [
      ['CPU', `${host.cpu} × ${host.cores} cores`],
      ['memory', host.memory],
      ['Node.js', host.node],
      ['OS', host.os],
      ['commit', host.commit],
      [
        'load average (1 min) before / after',
        `${loadBefore[0].toFixed(2)} / ${loadAfter[0].toFixed(2)}`,
      ],
    ],
  ),
  '',
  'The package is measured as built (`dist`, imported by its name), each benchmark in a fresh process. Ratios compare cases measured in the same process, in alternating rounds, so that machine load affects both sides; absolute ops/s depend on the machine and on what else runs on it (a load average near or above the core count means the figures are noisy).',
  '',
  '## Targets',
  '',
  targets.length === 0
    ? 'No targets measured.'
    : markdownTable(
        ['benchmark', 'target', 'measured', 'goal', 'met'],
        targets.map(([title, target]) => [
          title,
          target.name,
          target.value,
          target.target,
          target.met ? 'yes' : '**no**',
        ]),
      ),
  '',
  ...sections.map((section) => `${renderSection(section)}\n_(${section.seconds ?? 0} s)_\n`),
];
writeFileSync(options.out, lines.join('\n').replace(/\n{3,}/g, '\n\n'));
console.log(`\nWrote ${options.out} (${totalSeconds} s).`);
for (const [title, target] of targets) {
  console.log(
    `${target.met ? 'met ' : 'MISS'}  ${title}: ${target.name} = ${target.value} (goal ${target.target})`,
  );
}

// Shared helpers of the benchmarks: timing rounds, medians, markdown tables.
import { resolve } from 'node:path';
import { hrtime } from 'node:process';
import { pathToFileURL } from 'node:url';

/**
 * The package under test: the built one (dist), through its own name as users import it.
 * BENCH_PACKAGE may point at another build's entry point (a path) to compare builds.
 */
export function importPackage() {
  const override = process.env.BENCH_PACKAGE;
  return import(
    override === undefined ? 'nestjs-mcp-rate-limit' : pathToFileURL(resolve(override)).href
  );
}

/** The median of a list of numbers (the mean of the two middle ones for an even count). */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Run every case in alternating rounds and report, per case, the ops/s of each measured round.
 *
 * Each case is `{ name, setup(): Promise<op> | op, dispose?(op), subjects, ops, mode }`: `setup`
 * builds a fresh instance (untimed) and returns `op(subject)`, one operation returning a promise,
 * applied to the subjects in turn; `dispose` releases the instance after the timed run (timers,
 * state), so that no case measures in a heap that earlier rounds filled; `mode` is `sequential` (one `await` after another) or `{ inFlight: n }` (batches
 * of n concurrent operations). Rounds rotate the
 * order of the cases so that none is always measured first or last (thermal, GC and JIT drift).
 * `probe`, when given, is `{ start(benchCase), stop(benchCase, started, measured) }`: awaited right
 * before and right after each timed run (e.g. to read CPU counters), so that what it measures is
 * taken in the same alternating rounds as the ops/s.
 *
 * @returns Map from case name to the ops/s of each measured round, in round order.
 */
export async function measureRounds(cases, { warmupRounds, rounds, onRound, probe }) {
  const perCase = new Map(cases.map((benchCase) => [benchCase.name, []]));
  for (let round = 0; round < warmupRounds + rounds; round++) {
    const order = rotate(cases, round % cases.length);
    for (const benchCase of order) {
      const op = await benchCase.setup();
      const started = await probe?.start(benchCase);
      const nanoseconds = await timeOps(benchCase, op);
      await probe?.stop(benchCase, started, round >= warmupRounds);
      await benchCase.dispose?.(op);
      if (round >= warmupRounds)
        perCase.get(benchCase.name).push((benchCase.ops * 1e9) / nanoseconds);
    }
    onRound?.(round, warmupRounds);
  }
  return perCase;
}

// The timing loops are compiled anew for every case (new Function), so that each case gets call
// sites of its own: one case's operation never makes another's loop polymorphic.
const SEQUENTIAL_LOOP = `
  return async function sequential(op, subjects, count, now) {
    const subjectCount = subjects.length;
    const start = now();
    for (let index = 0; index < count; index++) await op(subjects[index % subjectCount]);
    return now() - start;
  };`;
const CONCURRENT_LOOP = `
  return async function concurrent(op, subjects, count, inFlight, now) {
    const subjectCount = subjects.length;
    const batch = new Array(inFlight);
    const start = now();
    for (let first = 0; first < count; first += inFlight) {
      for (let offset = 0; offset < inFlight; offset++) {
        batch[offset] = op(subjects[(first + offset) % subjectCount]);
      }
      await Promise.all(batch);
    }
    return now() - start;
  };`;
const loops = new Map();
const nowNs = () => hrtime.bigint();

async function timeOps(benchCase, op) {
  let loop = loops.get(benchCase);
  if (loop === undefined) {
    loop = new Function(benchCase.mode === 'sequential' ? SEQUENTIAL_LOOP : CONCURRENT_LOOP)();
    loops.set(benchCase, loop);
  }
  const elapsed =
    benchCase.mode === 'sequential'
      ? await loop(op, benchCase.subjects, benchCase.ops, nowNs)
      : await loop(op, benchCase.subjects, benchCase.ops, benchCase.mode.inFlight, nowNs);
  return Number(elapsed);
}

/** `list` rotated left by `by` (the order of the cases in one round). */
export function rotate(list, by) {
  return [...list.slice(by), ...list.slice(0, by)];
}

/**
 * Per-round ratio numerator/denominator (both measured in the same round) of the per-round rates
 * in `perRound` (a Map of name → rates), then the median over rounds. NaN when either is missing
 * (filtered out, or not measured).
 */
export function medianRatio(perRound, numerator, denominator) {
  const a = perRound.get(numerator);
  const b = perRound.get(denominator);
  if (a === undefined || b === undefined) return NaN;
  return median(a.map((value, round) => value / b[round]));
}

/** Format ops/s for a table: `1,234,567`. */
export function formatRate(opsPerSecond) {
  return Math.round(opsPerSecond).toLocaleString('en-US');
}

/** Format a ratio for a table: `2.34×`. */
export function formatRatio(ratio) {
  if (Number.isNaN(ratio)) return 'n/a';
  return `${ratio.toFixed(2)}×`;
}

/** Format bytes: `123 B`. */
export function formatBytes(bytes) {
  return `${Math.round(bytes).toLocaleString('en-US')} B`;
}

/** Render a markdown table from column titles and rows of cells. */
export function markdownTable(columns, rows) {
  const line = (cells) =>
    `| ${cells.map((cell) => String(cell).replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(columns), line(columns.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Progress to stderr, so stdout stays free for results. */
export function log(message) {
  process.stderr.write(`${message}\n`);
}

// Runs the sample app as its own Node process (as `npm start` does, without touching dist/): src/
// and sample-app/src are transpiled with SWC to node_modules/.cache, and the sample's imports of
// `nestjs-mcp-rate-limit` are pointed at the transpiled src/index.js.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { transformFileSync, type Options } from '@swc/core';

const root = join(import.meta.dirname, '..', '..');

function filesUnder(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(directory, entry.name)) : [join(directory, entry.name)],
  );
}

/** Transpile the library and the sample; answers the path of the sample's main.js. */
export function transpileSample(): string {
  const out = join(root, 'node_modules', '.cache', 'nestjs-mcp-rate-limit-sample');
  rmSync(out, { recursive: true, force: true });
  const swcrc = JSON.parse(readFileSync(join(root, '.swcrc.json'), 'utf8')) as Options;
  const libraryIndex = join(out, 'src', 'index.js');
  const sources = [
    ...filesUnder(join(root, 'src')),
    ...filesUnder(join(root, 'sample-app', 'src')),
  ];
  for (const file of sources) {
    const target = join(out, relative(root, file));
    mkdirSync(dirname(target), { recursive: true });
    if (file.endsWith('.ts') && !file.endsWith('.d.ts')) {
      const { code } = transformFileSync(file, { ...swcrc, swcrc: false, sourceMaps: false });
      const toLibrary = `./${relative(dirname(target), libraryIndex)}`;
      writeFileSync(
        target.replace(/\.ts$/, '.js'),
        code.replace(/(["'])nestjs-mcp-rate-limit\1/g, JSON.stringify(toLibrary)),
      );
    } else if (file.endsWith('.lua')) {
      copyFileSync(file, target);
    }
  }
  writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
  return join(out, 'sample-app', 'src', 'main.js');
}

export interface SampleProcess {
  readonly child: ChildProcess;
  readonly mcpUrl: URL;
  /** Everything it printed. */
  readonly output: () => string;
  stop(): Promise<void>;
}

/** Start `node main.js` with these environment variables; resolves once it printed its URL. */
export function spawnSample(mainJs: string, env: Record<string, string>): Promise<SampleProcess> {
  const child = spawn(process.execPath, [mainJs], {
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`the sample did not start within 20 s:\n${output}`));
    }, 20_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      const match = /POST (http:\/\/\S+\/mcp)/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve({ child, mcpUrl: new URL(match[1]), output: () => output, stop });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the sample exited (code ${code}) before starting:\n${output}`));
    });
  });
}

import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

/**
 * Compile src/core for child processes, inside node_modules/.cache so that the `redis` and
 * `ioredis` packages resolve from there. Returns the directory; remove it with `removeCore`.
 */
export function compileCore(): string {
  const directory = join(
    root,
    'node_modules',
    '.cache',
    'mcprl-redis-tests',
    `${process.pid}-${Date.now()}`,
  );
  mkdirSync(directory, { recursive: true });
  execFileSync(process.execPath, [join(here, 'fixtures', 'compile-core.mjs'), directory]);
  return directory;
}

export function removeCore(directory: string): void {
  rmSync(directory, { recursive: true, force: true });
}

/** What every worker reply carries besides its own result. */
export interface WorkerHealth {
  readonly unhandled: readonly string[];
  readonly storeErrors: number;
  readonly warnings: readonly string[];
}

export interface BurstResult extends WorkerHealth {
  readonly admitted: number;
  readonly denied: number;
  readonly retryAfters: readonly (number | null)[];
  readonly degraded: boolean;
}

/** A Node process running fixtures/redis-worker.mjs, driven by request/response over IPC. */
export class Worker {
  private readonly child: ChildProcess;
  private readonly ready: Promise<void>;
  private nextId = 0;
  private readonly waiting = new Map<
    number,
    { resolve: (value: never) => void; reject: (error: Error) => void }
  >();
  exitCode: number | null | undefined;

  constructor() {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    this.child = fork(join(here, 'fixtures', 'redis-worker.mjs'), [], { env, stdio: 'inherit' });
    this.ready = new Promise((resolve, reject) => {
      this.child.on(
        'message',
        (message: { ready?: boolean; id?: number; result?: never; error?: string }) => {
          if (message.ready === true) return resolve();
          const waiter = this.waiting.get(message.id as number);
          this.waiting.delete(message.id as number);
          if (message.error !== undefined) waiter?.reject(new Error(message.error));
          else waiter?.resolve(message.result as never);
        },
      );
      this.child.on('exit', (code) => {
        this.exitCode = code;
        const error = new Error(`worker exited with code ${String(code)}`);
        reject(error);
        for (const waiter of this.waiting.values()) waiter.reject(error);
        this.waiting.clear();
      });
    });
  }

  async call<T>(command: string, args: object = {}): Promise<T> {
    await this.ready;
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve, reject });
      this.child.send({ id, command, args });
    });
  }

  /** Close the worker's stores and wait for it to exit; returns its exit code. */
  async close(): Promise<number | null> {
    if (this.exitCode !== undefined) return this.exitCode;
    const exited = new Promise<number | null>((resolve) => this.child.once('exit', resolve));
    await this.call('close').catch(() => undefined);
    return exited;
  }

  kill(): void {
    if (this.exitCode === undefined) this.child.kill('SIGKILL');
  }
}

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pingRedis } from './redis-available.js';

const execFileAsync = promisify(execFile);

// Every server a test started, so that a failing or aborted run still kills them.
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * `count` consecutive free loopback ports whose cluster bus ports (+10000) are free too, from a
 * random start so that parallel runs rarely collide.
 */
export async function freePorts(count: number): Promise<number[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 21000 + Math.floor(Math.random() * 9000);
    const ports = Array.from({ length: count }, (_, index) => base + index);
    let free = true;
    for (const port of ports) {
      if (!(await portIsFree(port)) || !(await portIsFree(port + 10000))) {
        free = false;
        break;
      }
    }
    if (free) return ports;
  }
  throw new Error(`no ${count} free loopback ports found`);
}

/** A redis-server this test started on a loopback port, in a temporary directory. */
export class TestRedisServer {
  private child: ChildProcess | undefined;
  readonly directory = mkdtempSync(join(tmpdir(), 'mcprl-redis-'));

  constructor(
    readonly port: number,
    private readonly extraArgs: readonly string[] = [],
  ) {}

  /** A server on free loopback ports (see `freePorts`), started. */
  static async startOnFreePort(extraArgs: readonly string[] = []): Promise<TestRedisServer> {
    const [port] = await freePorts(1);
    const server = new TestRedisServer(port, extraArgs);
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Start (or restart) the server and wait until it answers PING. */
  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.directory,
        ...this.extraArgs,
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    running.add(child);
    child.once('exit', () => running.delete(child));
    for (let attempt = 0; attempt < 100; attempt++) {
      if (await pingRedis(this.port, '127.0.0.1', 200)) return;
      if (child.exitCode !== null) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`redis-server on port ${this.port} did not start`);
  }

  /** Kill the server (SIGKILL by default: a crash, no goodbye) and wait for it to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  /** Send a signal without waiting (SIGSTOP / SIGCONT to freeze and thaw the server). */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  async stop(): Promise<void> {
    await this.kill('SIGKILL');
    rmSync(this.directory, { recursive: true, force: true });
  }

  /** Run redis-cli against this server. */
  async cli(...args: string[]): Promise<string> {
    const { stdout } = await execFileAsync('redis-cli', ['-p', String(this.port), ...args]);
    return stdout;
  }
}

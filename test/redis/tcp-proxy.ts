// A TCP proxy in front of a Redis that a test controls: cut every connection and refuse new ones
// (an outage of one instance's network path), heal it, hold replies (a stalled path), or delay
// every reply (a healthy cache that is far away).
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private refusing = false;
  /** While set, bytes from Redis are held here per client socket instead of forwarded. */
  private holding = false;
  private readonly held: { to: Socket; chunk: Buffer }[] = [];
  /** When a client's command matches, replies are held from then on (see `holdWhenSent`). */
  private holdTrigger: RegExp | undefined;
  /** While set, bytes from clients are dropped (commands never reach Redis). */
  private blackholing = false;
  /** Every reply from Redis reaches its client this much later (in order: one delay for all). */
  private replyDelayMs = 0;
  port = 0;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((client) => {
      if (this.refusing) {
        client.destroy();
        return;
      }
      const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
      this.sockets.add(client);
      this.sockets.add(upstream);
      client.on('data', (chunk) => {
        if (this.holdTrigger?.test(chunk.toString('latin1')) === true) {
          this.holdTrigger = undefined;
          this.holding = true;
        }
        if (!this.blackholing) upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (this.holding) this.held.push({ to: client, chunk });
        else if (this.replyDelayMs > 0) {
          setTimeout(() => client.destroyed || client.write(chunk), this.replyDelayMs);
        } else client.write(chunk);
      });
      const close = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('close', close);
      upstream.on('close', close);
      client.on('error', close);
      upstream.on('error', close);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
  }

  /** Drop every connection now and refuse new ones until `heal`. */
  cut(): void {
    this.refusing = true;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.held.length = 0;
  }

  heal(): void {
    this.refusing = false;
    this.blackholing = false;
    this.holding = false;
  }

  /** Drop what clients send (their commands are lost on the way to Redis). */
  blackhole(): void {
    this.blackholing = true;
  }

  /** Deliver every reply `ms` later from now on: a slow but healthy path (0: at once again). */
  delayReplies(ms: number): void {
    this.replyDelayMs = ms;
  }

  /** Hold Redis's replies (commands still reach Redis and run). */
  hold(): void {
    this.holding = true;
  }

  /** Hold replies from the first command that matches `pattern` on (it still runs in Redis). */
  holdWhenSent(pattern: RegExp): void {
    this.holdTrigger = pattern;
  }

  /** Deliver the held replies and forward again. */
  release(): void {
    this.holding = false;
    for (const { to, chunk } of this.held.splice(0)) if (!to.destroyed) to.write(chunk);
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

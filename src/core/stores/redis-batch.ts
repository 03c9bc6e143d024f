import { monotonicClock } from '../clock.js';
import { RateLimitConfigError } from '../limits.js';
import { serverRefusal, RedisNotReadyError, type ScriptTransport } from './redis-client.js';
import type { RedisScript } from './redis-script.js';
import { deliver } from './redis-reply.js';
import { Batch, Lane, type ScriptCall } from './redis-script-call.js';
import { StoreUnavailableError } from './store.js';

export type { LimitArguments, ScriptCall } from './redis-script-call.js';

/** What the batcher needs from its store. */
export interface BatchHost {
  /** The script that decides a batch of these algorithms (an OR of `algorithmBit`s). */
  scriptFor(algorithms: number): RedisScript;
  readonly commandTimeoutMs: number;
  /** The transport when it exists; `open()` creates it (a store that owns its connection). */
  readonly transport: ScriptTransport | undefined;
  open(): Promise<ScriptTransport>;
}

// Per lane, at most this many script calls in flight: while Redis works on one, the calls of the
// next ticks gather into the next, instead of each going out alone.
const MAX_IN_FLIGHT = 2;

/**
 * Gathers the calls of a tick into one script call per Cluster slot, and holds every script call to
 * its deadline. Calls made while a script call is being prepared join it; nothing ever waits on a
 * timer to gather: the batch goes out on the next tick (process.nextTick), or, when two script calls
 * of its lane are already in flight, as soon as one returns. A script call's deadline runs from
 * when it goes out. Those waiting behind it wait no longer: when a script call times out (its lane
 * has not answered for a whole timeout), the ones waiting on its lane fail, never sent. Waiting
 * alone is no sign of a dead Redis: a burst, or a process that was busy, makes calls wait on a
 * Redis that answers every one.
 *
 * Deadlines are judged by when a reply arrives against when they started, never by when
 * JavaScript got around to looking: the watchdog only suspects a script call in the timer phase, and
 * decides in the check phase of the same loop turn, after the poll phase has read whatever Redis had
 * sent; a lane that got any reply in that turn is still answering and is given more time. So a
 * process that was busy for longer than the timeout never takes a reply that had arrived for a
 * timeout (which would hand the call to the outage policy and its fresh quota).
 */
export class ScriptBatcher {
  private readonly lanes = new Map<number, Lane>();
  // Script calls in flight, in the order they went out (all share one timeout: deadline order).
  private pending: Batch[] = [];
  private pendingHead = 0;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  // Script calls handed to the client in this loop turn, not stamped with their sending time yet.
  private unstamped: Batch[] = [];
  private readonly timeoutMessage: string;

  constructor(private readonly host: BatchHost) {
    this.timeoutMessage = `RedisStore: Redis did not answer within ${host.commandTimeoutMs} ms`;
  }

  add(call: ScriptCall, slot: number, timeMs: number | undefined): void {
    let lane = this.lanes.get(slot);
    if (lane === undefined) {
      lane = new Lane(slot);
      this.lanes.set(slot, lane);
    }
    const waiting = lane.waiting;
    let batch = waiting[waiting.length - 1];
    if (batch === undefined || !batch.accepts(call, timeMs)) {
      batch = new Batch(lane, timeMs);
      waiting.push(batch);
    }
    batch.add(call);
    if (!lane.flushScheduled) {
      lane.flushScheduled = true;
      process.nextTick(() => {
        lane.flushScheduled = false;
        this.flush(lane);
      });
    }
  }

  /**
   * The transport lost its connection: what is in flight is not answered on it; let the policy
   * decide. A client may send it again once reconnected (ioredis does by default), so its calls
   * heed a late reply like timed-out ones.
   */
  connectionLost(): void {
    // A copy: settling a batch sends what waits, which changes the list.
    for (const batch of this.pending.slice(this.pendingHead)) {
      if (!batch.settled) {
        this.finish(batch, () => batch.abandon('RedisStore: Redis connection lost'));
      }
    }
  }

  close(): void {
    this.stopWatchdog();
  }

  private flush(lane: Lane): void {
    const waiting = lane.waiting;
    while (lane.inFlight < MAX_IN_FLIGHT && waiting.length > 0) {
      this.send(waiting.shift() as Batch);
    }
    this.dropIdle(lane);
  }

  private dropIdle(lane: Lane): void {
    if (lane.inFlight === 0 && lane.waiting.length === 0) this.lanes.delete(lane.slot);
  }

  private send(batch: Batch): void {
    batch.sent = true;
    batch.lane.inFlight++;
    this.track(batch);
    const script = this.host.scriptFor(batch.algorithms);
    const args = ['EVALSHA', script.sha1, String(batch.keys.length)];
    for (const key of batch.keys) args.push(key);
    if (batch.timeMs !== undefined) args.push(String(batch.timeMs));
    args.push(batch.descriptors);
    for (const cost of batch.costs) args.push(cost);
    for (const argument of batch.limitTable) args.push(argument);
    args.push(String(batch.refs.size));
    const transport = this.host.transport;
    const waiting = transport?.ready();
    if (transport !== undefined && waiting === undefined) {
      this.sendScript(transport, batch, script, args);
      return;
    }
    // Connecting, or known to be disconnected (then `waiting` rejects at once). The deadline runs.
    const ready: Promise<ScriptTransport> =
      transport === undefined
        ? this.host.open().then(async (opened) => {
            await opened.ready();
            return opened;
          })
        : (waiting as Promise<void>).then(() => transport);
    ready.then(
      (connected) => {
        // Timed out before it could be sent: it never runs.
        if (batch.settled) batch.answerLate(undefined);
        else this.sendScript(connected, batch, script, args);
      },
      (error: unknown) => {
        if (batch.settled) batch.answerLate(undefined);
        else this.finish(batch, () => batch.fail(unavailable(error)));
      },
    );
  }

  private sendScript(
    transport: ScriptTransport,
    batch: Batch,
    script: RedisScript,
    args: string[],
  ): void {
    const firstKey = batch.keys[0];
    transport.send(args, firstKey).then(
      (reply) => this.answered(batch, reply),
      (error: unknown) => {
        if (batch.settled) {
          // NOSCRIPT: the script did not run; another failure: nothing known to have been taken.
          batch.answerLate(undefined);
          return;
        }
        if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) {
          this.finish(batch, () => batch.fail(unavailable(error)));
          return;
        }
        // First script call on this Redis (or after a restart or SCRIPT FLUSH): EVAL also caches
        // the script. The reply counts as a sign of life for the deadline.
        batch.lane.lastReplyMs = monotonicClock();
        const evalArgs = args.slice();
        evalArgs[0] = 'EVAL';
        evalArgs[1] = script.source;
        transport.send(evalArgs, firstKey).then(
          (evalReply) => this.answered(batch, evalReply),
          (evalError: unknown) => {
            if (batch.settled) batch.answerLate(undefined);
            else this.finish(batch, () => batch.fail(unavailable(evalError)));
          },
        );
      },
    );
  }

  private answered(batch: Batch, reply: unknown): void {
    batch.lane.lastReplyMs = monotonicClock();
    // Timed out before the reply came: the policy has decided its calls; they learn what it took.
    if (batch.settled) batch.answerLate(reply);
    else this.finish(batch, () => deliver(batch.calls, reply));
  }

  /** Settle a batch (through `settleCalls`), free its place in its lane, send what waits. */
  private finish(batch: Batch, settleCalls: () => void): void {
    batch.settled = true;
    const lane = batch.lane;
    lane.inFlight--;
    this.dropSettledHead();
    settleCalls();
    if (!lane.flushScheduled) this.flush(lane);
  }

  /** Start `batch`'s deadline. */
  private track(batch: Batch): void {
    this.pending.push(batch);
    // node-redis writes its commands in a setImmediate callback, and whatever ran in between (a
    // request that blocks the process) must not count against Redis: the clock starts in a check
    // phase callback queued after the client's write.
    if (this.unstamped.push(batch) === 1) {
      setImmediate(() => {
        const startedAtMs = monotonicClock();
        for (const started of this.unstamped) started.startedAtMs = startedAtMs;
        this.unstamped = [];
      });
    }
    if (this.watchdog === undefined) {
      const intervalMs = Math.max(5, this.host.commandTimeoutMs / 4);
      this.watchdog = setInterval(() => this.suspect(), intervalMs);
      this.watchdog.unref();
    }
  }

  /** Timer phase: if some script call looks overdue, decide in this turn's check phase. */
  private suspect(): void {
    this.dropSettledHead();
    const oldest = this.pending[this.pendingHead];
    if (oldest === undefined) {
      this.stopWatchdog();
      return;
    }
    const suspectedAtMs = monotonicClock();
    if (oldest.startedAtMs + this.host.commandTimeoutMs > suspectedAtMs) return;
    setImmediate(() => this.expire(suspectedAtMs));
  }

  /**
   * Check phase: the poll phase between `suspectedAtMs` and now has read every reply that had
   * arrived by then. A script call still unanswered, sent more than the timeout before, on a lane
   * that got no reply since, has timed out; so have the script calls waiting on its lane, which
   * fail unsent (so nothing they would take goes unaccounted).
   */
  private expire(suspectedAtMs: number): void {
    const timeoutMs = this.host.commandTimeoutMs;
    // A copy: settling a batch sends what waits, which changes the list.
    for (const batch of this.pending.slice(this.pendingHead)) {
      if (batch.startedAtMs + timeoutMs > suspectedAtMs) break;
      const lane = batch.lane;
      if (batch.settled || lane.lastReplyMs >= suspectedAtMs) continue;
      for (const waiting of lane.waiting.splice(0)) {
        waiting.fail(new StoreUnavailableError(this.timeoutMessage));
      }
      this.finish(batch, () => batch.abandon(this.timeoutMessage));
    }
  }

  private dropSettledHead(): void {
    const queue = this.pending;
    let head = this.pendingHead;
    while (head < queue.length && queue[head].settled) head++;
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    } else if (head > 1024 && head * 2 > queue.length) {
      this.pending = queue.slice(head);
      head = 0;
    }
    this.pendingHead = head;
  }

  private stopWatchdog(): void {
    if (this.watchdog !== undefined) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }
}

/** Any failure of a script call as the outage policy's input, naming a refusal of scripts. */
export function unavailable(error: unknown): Error {
  // A setup mistake (a client package not installed) is no outage: the calls fail with it.
  if (error instanceof StoreUnavailableError || error instanceof RateLimitConfigError) return error;
  const refusal = serverRefusal(error);
  if (refusal !== undefined) {
    return new StoreUnavailableError(`RedisStore: ${refusal}`, { cause: error });
  }
  const reason =
    error instanceof RedisNotReadyError
      ? error.message
      : `Redis call failed: ${error instanceof Error ? error.message : String(error)}`;
  return new StoreUnavailableError(`RedisStore: ${reason}`, { cause: error });
}

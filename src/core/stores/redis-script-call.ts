// One script call of the batcher (redis-batch.ts): the calls it carries, encoded as the script
// takes them, how they are settled, and the lane (Cluster slot) it goes out on.
import { DESCRIPTOR_NUMBERS, MAX_BATCH_LIMITS, UNIT_COST_OPS } from './redis-script.js';
import { deliver, type AnsweredCall } from './redis-reply.js';
import { StoreTimeoutError, type LimitOutcome } from './store.js';

/** What the script takes of a limit: its algorithm code and two parameters (one array per limit). */
export type LimitArguments = readonly [code: string, first: string, second: string];

/** One call of the store, as the script takes it. */
export interface ScriptCall {
  /** `e` evaluate, `p` peek, `r` refund, `x` refund against reset marks, `d` reset, `m` marks. */
  readonly op: 'e' | 'p' | 'r' | 'x' | 'd' | 'm';
  /** The call's keys (KEYS): one per limit, and its reset marker's for `x` and `d`. */
  readonly keys: readonly string[];
  /** Per key, its limit (none for `d`); the same array for the same limit, so a batch sends it once. */
  readonly limits: readonly LimitArguments[];
  /** Per limit, its cost; empty for an evaluation or peek whose every limit costs 1 (and for `d`). */
  readonly costs: readonly string[];
  /** How many outcomes the script answers for this call (0 for a refund or a reset). */
  readonly outcomes: number;
  /** The algorithms of the call's limits, an OR of `algorithmBit`s (0 for a reset). */
  readonly algorithms: number;
  readonly resolve: (outcomes: readonly LimitOutcome[]) => void;
  readonly reject: (error: unknown) => void;
}

// A script call carries at most this many calls (and limits): a lone call still goes out at once,
// and a batch never holds Redis long enough to delay other clients noticeably. The limits bound
// that time (each is its own commands: 64 calls of 4 limits were always allowed); 128 calls let a
// tick's 128 one-limit calls go out as one script call instead of two, so that Redis and Node pay a
// script call's own cost (its command, its set-up, its reply) half as often.
const MAX_CALLS = 128;
const MAX_LIMITS = 256;
/** The calls of one script call. */
export class Batch {
  readonly calls: ScriptCall[] = [];
  readonly keys: string[] = [];
  /** The calls' descriptors, one after the other (one argument). */
  descriptors = '';
  /** The costs of the calls that send theirs, call after call. */
  readonly costs: string[] = [];
  /** The batch's distinct limits, as their descriptor characters, and their table (end of ARGV). */
  readonly refs = new Map<LimitArguments, string>();
  readonly limitTable: string[] = [];
  limits = 0;
  algorithms = 0;
  /**
   * Monotonic ms from which its deadline runs (Infinity until then): the check phase after it was
   * handed to the client.
   */
  startedAtMs = Infinity;
  /**
   * Whether it holds a reset: then it takes no further call. The calls of a script call share one
   * Redis time, so a call admitted after a reset in it would take leases of the same expiry as one
   * admitted before it, whose release (the reset dropped its own) would free the later call's.
   * In the next script call, a later Redis time tells them apart.
   */
  private closedByReset = false;
  /** Whether it was handed to the client. */
  sent = false;
  settled = false;
  /**
   * Once the batch has timed out: per call, what hands the call's `StoreTimeoutError.late` the
   * outcomes of a reply that comes after all.
   */
  private lateCalls: AnsweredCall[] = [];

  constructor(
    readonly lane: Lane,
    /** The injected clock's time (tests), or undefined for Redis server time. */
    readonly timeMs: number | undefined,
  ) {}

  accepts(call: ScriptCall, timeMs: number | undefined): boolean {
    return (
      !this.closedByReset &&
      this.calls.length < MAX_CALLS &&
      this.limits + call.keys.length <= MAX_LIMITS &&
      this.refs.size + call.limits.length <= MAX_BATCH_LIMITS &&
      this.timeMs === timeMs
    );
  }

  add(call: ScriptCall): void {
    this.calls.push(call);
    if (call.op === 'd') this.closedByReset = true;
    const keys = call.keys;
    for (const key of keys) this.keys.push(key);
    const costs = call.costs;
    let descriptor =
      (costs.length === 0 ? UNIT_COST_OPS[call.op] : call.op) + DESCRIPTOR_NUMBERS[keys.length];
    for (const limit of call.limits) {
      let ref = this.refs.get(limit);
      if (ref === undefined) {
        ref = DESCRIPTOR_NUMBERS[this.refs.size + 1];
        this.refs.set(limit, ref);
        this.limitTable.push(limit[0], limit[1], limit[2]);
      }
      descriptor += ref;
    }
    this.descriptors += descriptor;
    for (const cost of costs) this.costs.push(cost);
    this.limits += keys.length;
    this.algorithms |= call.algorithms;
  }

  fail(error: unknown): void {
    this.settled = true;
    for (const call of this.calls) call.reject(error);
  }

  /**
   * Given up without its reply (none in time, or its connection lost): the outage policy decides
   * each call. Its command may still run once Redis answers again (or when a client that re-sends
   * after a reconnect sends it again) and take slots that the call's release does not name, so
   * each call's error carries what that late reply says.
   */
  abandon(message: string): void {
    this.settled = true;
    for (const call of this.calls) {
      const late = new Promise<readonly LimitOutcome[] | undefined>((answer) => {
        const reject = () => answer(undefined);
        this.lateCalls.push({ outcomes: call.outcomes, resolve: answer, reject });
      });
      call.reject(new StoreTimeoutError(message, late));
    }
  }

  /**
   * What Redis answered for this batch after it had timed out; undefined when its command was
   * never sent, or failed (nothing known to have been taken). Told once.
   */
  answerLate(reply: unknown): void {
    const calls = this.lateCalls;
    this.lateCalls = [];
    if (reply !== undefined) deliver(calls, reply);
    else for (const call of calls) call.reject(undefined);
  }
}

/** The calls bound for one Redis Cluster slot (one lane for a single Redis): answered in order. */
export class Lane {
  constructor(readonly slot: number) {}
  /** Batches not sent yet; the last one still takes calls. */
  readonly waiting: Batch[] = [];
  inFlight = 0;
  flushScheduled = false;
  /** When a reply of this lane last arrived (monotonic ms). */
  lastReplyMs = -Infinity;
}

// When a call's ConcurrencyLimit slots are freed (attack review 5): once, when the handler has
// ended and, on a plain HTTP route, its response is done; at once when the response closes before
// the interceptor started (a later guard refused the call, a cache answered, the client left);
// never while the handler runs.
import { EventEmitter } from 'node:events';
import { describe, expect, it, jest } from '@jest/globals';
import { Observable, Subject } from 'rxjs';
import { ConcurrencyLimit } from '../../src/core/limits.js';
import type { RateLimitDecision } from '../../src/core/engine.js';
import { heldUntilEnded, nodeResponseOf, PlainRuns, SlotHold } from '../../src/nest/slot-hold.js';

/** A decision counting its releases. */
function decision(): RateLimitDecision & { releases: number } {
  const counted = {
    allowed: true,
    results: [],
    releases: 0,
    release: () => {
      counted.releases++;
      return Promise.resolve();
    },
  };
  return counted as unknown as RateLimitDecision & { releases: number };
}

/** A Node response as far as the hold sees one: 'close' and `closed`. */
class Response extends EventEmitter {
  closed = false;
  writeHead(): void {}
  close(): void {
    this.closed = true;
    this.emit('close');
  }
}

const logger = { warn: () => {} };

describe('SlotHold on a plain HTTP route (waits for the response)', () => {
  it('frees once, when the handler has ended and the response is done, in either order', () => {
    for (const responseFirst of [false, true]) {
      const held = decision();
      const response = new Response();
      const hold = new SlotHold(held, logger, 'H', response, true);
      expect(hold.started()).toBe(true);
      if (responseFirst) response.close();
      else hold.ended();
      expect(held.releases).toBe(0);
      if (responseFirst) hold.ended();
      else response.close();
      hold.ended();
      expect(held.releases).toBe(1);
    }
  });

  it('frees a call whose response closed before the interceptor started; it then does not run', () => {
    const held = decision();
    const response = new Response();
    const hold = new SlotHold(held, logger, 'H', response, true);
    response.close();
    expect(held.releases).toBe(1);
    expect(hold.started()).toBe(false);
    hold.ended();
    expect(held.releases).toBe(1);
  });

  it('frees at once a call whose response had already closed while it was decided', () => {
    const held = decision();
    const response = new Response();
    response.closed = true;
    const hold = new SlotHold(held, logger, 'H', response, true);
    expect(held.releases).toBe(1);
    expect(hold.started()).toBe(false);
  });
});

describe('SlotHold, many calls answered by one response (a JSON-RPC batch)', () => {
  it('listens once to the response and frees every call once', () => {
    const response = new Response();
    const held = Array.from({ length: 12 }, () => decision());
    const holds = held.map((each) => new SlotHold(each, logger, 'H', response, false));
    expect(response.listenerCount('close')).toBe(1);
    for (const hold of holds.slice(0, 6)) hold.started();
    response.close();
    expect(held.map((each) => each.releases)).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    for (const hold of holds) hold.ended();
    expect(held.every((each) => each.releases === 1)).toBe(true);
  });
});

describe('SlotHold on an MCP-Nest handler (its answer is one message of the response)', () => {
  it('keeps the slots while the handler runs, even when the response closes', () => {
    const held = decision();
    const response = new Response();
    const hold = new SlotHold(held, logger, 'H', response, false);
    expect(hold.started()).toBe(true);
    response.close();
    expect(held.releases).toBe(0);
    hold.ended();
    expect(held.releases).toBe(1);
  });

  it('with no HTTP response (STDIO), frees when the handler ends', () => {
    const held = decision();
    const hold = new SlotHold(held, logger, 'H', undefined, false);
    expect(hold.started()).toBe(true);
    hold.ended();
    hold.ended();
    expect(held.releases).toBe(1);
  });
});

describe('nodeResponseOf', () => {
  it("finds Express's response itself and Fastify's reply's raw response, nothing else", () => {
    const raw = new Response();
    expect(nodeResponseOf(raw)).toBe(raw);
    expect(nodeResponseOf({ raw })).toBe(raw);
    expect(nodeResponseOf({ raw: {} })).toBeUndefined();
    expect(nodeResponseOf(undefined)).toBeUndefined();
  });
});

describe('heldUntilEnded: a handler let go of before it answered', () => {
  /** A decision holding a slot of a ConcurrencyLimit leased `leaseSeconds`. */
  function slotDecision(leaseSeconds: number) {
    const held = decision();
    const limiter = new ConcurrencyLimit({ maxConcurrent: 1, leaseSeconds });
    return Object.assign(held, { results: [{ limiter, allowed: true }] });
  }

  /** A call taken up by the module's interceptor, and one run of its handler followed. */
  function run(hold: SlotHold, handler: Observable<string>): Observable<string> {
    expect(hold.runStarted()).toBe(true);
    return heldUntilEnded(handler, hold);
  }

  it('keeps the slot until the handler answers, then frees it once; the late answer goes nowhere', () => {
    const held = slotDecision(60);
    const hold = new SlotHold(held, logger, 'T.m', undefined, false);
    hold.started();
    const handler = new Subject<string>();
    const seen: string[] = [];
    const listening = run(hold, handler).subscribe((value) => seen.push(value));
    listening.unsubscribe(); // Nest gives up (a timeout, an SSE client gone)
    hold.ended(); // and the call ends for its client
    expect(held.releases).toBe(0);
    expect(handler.observed).toBe(true); // still followed
    handler.next('late answer');
    expect(seen).toEqual([]);
    expect(held.releases).toBe(1);
    expect(handler.observed).toBe(false);
    handler.next('more');
    handler.complete();
    expect(held.releases).toBe(1);
  });

  it('frees, once the call ends, a handler that answered before it was let go of', () => {
    const held = slotDecision(60);
    const hold = new SlotHold(held, logger, 'T.m', undefined, false);
    hold.started();
    const handler = new Subject<string>();
    const listening = run(hold, handler).subscribe(() => undefined);
    handler.next('answer');
    expect(held.releases).toBe(0);
    listening.unsubscribe(); // MCP-Nest takes the first value and unsubscribes
    expect(handler.observed).toBe(false);
    expect(held.releases).toBe(0);
    hold.ended();
    expect(held.releases).toBe(1);
  });

  it('refuses to run the handler again while a run let go of may still be running (a retry)', () => {
    const held = slotDecision(60);
    const hold = new SlotHold(held, logger, 'T.m', undefined, false);
    expect(hold.started()).toBe(true);
    const handler = new Subject<string>();
    run(hold, handler)
      .subscribe(() => undefined)
      .unsubscribe();
    expect(hold.runStarted()).toBe(false);
    hold.ended();
    handler.next('late');
    expect(held.releases).toBe(1);
  });

  it('runs the handler again after a run that failed (a retry inside the call), in the same slots, freed once', () => {
    const held = slotDecision(60);
    const hold = new SlotHold(held, logger, 'T.m', undefined, false);
    expect(hold.started()).toBe(true);
    const first = new Subject<string>();
    run(hold, first).subscribe({ error: () => undefined });
    first.error(new Error('hiccup'));
    expect(held.releases).toBe(0); // the call goes on
    const second = new Subject<string>();
    const listening = run(hold, second).subscribe(() => undefined);
    second.next('answer');
    listening.unsubscribe();
    expect(held.releases).toBe(0);
    hold.ended();
    hold.ended();
    expect(held.releases).toBe(1);
  });

  it('a call that ends with no run (a cache answered it) frees at once; it cannot run after', () => {
    const held = slotDecision(60);
    const hold = new SlotHold(held, logger, 'T.m', undefined, false);
    expect(hold.started()).toBe(true);
    hold.ended();
    expect(held.releases).toBe(1);
    expect(hold.runStarted()).toBe(false);
    expect(hold.started()).toBe(false);
  });

  it('a handler that failed or completed is not followed on: no timer is left behind', () => {
    jest.useFakeTimers();
    try {
      for (const how of ['error', 'complete'] as const) {
        const held = slotDecision(60);
        const hold = new SlotHold(held, logger, 'T.m', undefined, false);
        hold.started();
        const handler = new Subject<string>();
        run(hold, handler).subscribe({ error: () => undefined });
        if (how === 'error') handler.error(new Error('failed'));
        else handler.complete();
        hold.ended();
        expect(held.releases).toBe(1);
        expect(jest.getTimerCount()).toBe(0);
      }
    } finally {
      jest.useRealTimers();
    }
  });

  it('stops following a handler that never answers once its lease is over', () => {
    jest.useFakeTimers();
    try {
      const held = slotDecision(2);
      const hold = new SlotHold(held, logger, 'T.m', undefined, false);
      hold.started();
      const handler = new Subject<string>();
      run(hold, handler)
        .subscribe(() => undefined)
        .unsubscribe();
      hold.ended();
      jest.advanceTimersByTime(1_999);
      expect(held.releases).toBe(0);
      jest.advanceTimersByTime(1);
      expect(held.releases).toBe(1);
      expect(handler.observed).toBe(false);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('HandlerRuns.mayStillWork: whether a call may be given back (refundWhen)', () => {
  it('is true while a run has neither answered, failed, completed nor been let go of', () => {
    const runs = new PlainRuns();
    const working = new Subject<string>();
    expect(runs.runStarted()).toBe(true);
    heldUntilEnded(working, runs).subscribe({ error: () => undefined });
    expect(runs.mayStillWork).toBe(true); // an interceptor beside it may fail the call now
    working.next('answer');
    expect(runs.mayStillWork).toBe(false);
    const failing = new Subject<string>();
    runs.runStarted();
    heldUntilEnded(failing, runs).subscribe({ error: () => undefined });
    failing.error(new Error('down'));
    expect(runs.mayStillWork).toBe(false);
  });

  it('stays true once a run was let go of before it answered', () => {
    const runs = new PlainRuns();
    runs.runStarted();
    heldUntilEnded(new Subject<string>(), runs)
      .subscribe(() => undefined)
      .unsubscribe();
    expect(runs.mayStillWork).toBe(true);
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  LimitSet,
  RateLimitConfigError,
  RateLimitEngine,
  type Clock,
  type RateLimitStore,
  type RateLimitDecision,
} from '../../src/index.js';
import { SCENARIOS } from './scenarios.js';

/** 2023-11-14T00:00:00Z: aligned to a day, so every window of the scenarios starts at 0. */
export const EPOCH_MS = 1_699_920_000_000;

/** A store under test, made fresh (or namespaced by `prefix`) for each scenario. */
export interface StoreUnderTest {
  readonly name: string;
  /** Build the store; the clock is the scenario's. */
  create(clock: Clock): RateLimitStore | Promise<RateLimitStore>;
  /** Called once after all scenarios. */
  close?(): void | Promise<void>;
  /** Called once before all scenarios. */
  open?(): void | Promise<void>;
  /** The keys of one call must share one subject (Redis Cluster: one slot per call). */
  readonly oneSubjectPerCall?: boolean;
}

let run = 0;

/** Run the whole scenario table against one store. */
export function describeConformance(target: StoreUnderTest): void {
  describe(`conformance: ${target.name}`, () => {
    beforeAll(async () => target.open?.());
    afterAll(async () => target.close?.());

    for (const scenario of SCENARIOS) {
      if (target.oneSubjectPerCall === true && scenario.keysUnderSeveralSubjects) {
        it(`${scenario.name}: refused, the keys of one call are under several subjects`, async () => {
          const store = await target.create(() => EPOCH_MS);
          const engine = new RateLimitEngine(store, { prefix: `conf:${process.pid}:${run++}:` });
          const step = scenario.steps[0];
          const set = new LimitSet(scenario.limits(), step.scope ?? 'tools/call:demo');
          await expect(
            engine.evaluate(set, { subject: step.subject ?? 'user:alice', cost: step.cost ?? 1 }),
          ).rejects.toThrow(RateLimitConfigError);
        });
        continue;
      }
      it(scenario.name, async () => {
        let nowMs = EPOCH_MS;
        const store = await target.create(() => nowMs);
        // A unique prefix per scenario keeps shared stores (Redis) from seeing older state.
        const engine = new RateLimitEngine(store, { prefix: `conf:${process.pid}:${run++}:` });
        const limits = scenario.limits();
        const sets = new Map<string, LimitSet>();
        const decisions: RateLimitDecision[] = [];

        for (const [index, step] of scenario.steps.entries()) {
          nowMs = EPOCH_MS + step.at;
          const scope = step.scope ?? 'tools/call:demo';
          let set = sets.get(scope);
          if (set === undefined) {
            set = new LimitSet(limits, scope);
            sets.set(scope, set);
          }
          const context = { subject: step.subject ?? 'user:alice', cost: step.cost ?? 1 };
          if (step.action === 'refund') {
            const refunded = decisions[(step.refunds ?? 0) - 1];
            if (refunded === undefined) throw new Error(`step ${index + 1}: refunds no decision`);
            await engine.refund(set, context, refunded);
            continue;
          }
          if (step.action === 'release') {
            const held = decisions[(step.refunds ?? 0) - 1];
            if (held === undefined) throw new Error(`step ${index + 1}: releases no decision`);
            await engine.release(set, held);
            continue;
          }
          if (step.action === 'reset') {
            await engine.reset(set, context.subject);
            continue;
          }
          const decision = await (step.action === 'peek'
            ? engine.peek(set, context)
            : engine.evaluate(set, context));
          decisions[index] = decision;
          const where = `step ${index + 1} (at ${step.at} ms)`;
          expect({ where, allowed: decision.allowed }).toEqual({ where, allowed: step.allowed });
          if (step.retryAfterMs !== undefined) {
            expect(decision.retryAfterMs).toBeCloseTo(step.retryAfterMs, 6);
          }
          if (step.retryAfter !== undefined) {
            expect({ where, retryAfter: decision.retryAfter }).toEqual({
              where,
              retryAfter: step.retryAfter,
            });
          }
          if (step.allowed) expect(decision.retryAfter).toBeNull();
          if (step.resetAfterMs !== undefined) {
            const resets = decision.results.map((result) => result.resetAfterMs ?? NaN);
            expect(resets).toHaveLength(step.resetAfterMs.length);
            step.resetAfterMs.forEach((expected, limitIndex) =>
              expect({ where, limitIndex, reset: resets[limitIndex] }).toEqual({
                where,
                limitIndex,
                reset: expect.closeTo(expected, 6),
              }),
            );
          }
          if (step.remaining !== undefined) {
            expect({
              where,
              remaining: decision.results.map((result) => result.remaining),
            }).toEqual({
              where,
              remaining: step.remaining,
            });
          }
        }
      });
    }
  });
}

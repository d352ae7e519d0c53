import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LinesideError } from '../../../src/errors.js';
import type { Scheduler } from '../../../src/pipeline/scheduler.js';
import { advance, makeRig, type RigOptions } from './fakes.js';

/**
 * What the records say about the gate must be what the gate did: a reject whose write failed is not fired, a part
 * whose moment comes after the safe state was not fired, and a verdict that comes after the gate had to commit is
 * recorded as the reject it physically was. Time tracking: due 500 ms after the trigger, the gate acts at 490.
 */
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

async function started(opts: RigOptions = {}) {
  const rig = makeRig(opts);
  await rig.line.start(new AbortController().signal);
  return rig;
}

describe('gate outcomes that tell the truth', () => {
  it('rejects whose gate write failed are recorded not fired, each on its own, and count no pulse', async () => {
    const rig = await started({ script: () => ({ verdict: 'defective' }) });
    rig.gate.failWrites = true;
    const t0 = performance.now();
    rig.trigger.fire('rising', t0);
    await advance(40);
    // 40 ms behind: inside the pulse the first reject would have had.
    rig.trigger.fire('rising', performance.now());
    await advance(1500);
    expect(rig.records.map((r) => [r.seq, r.decision, r.tracking.fired, r.tracking.outcome, r.errorCode])).toEqual([
      [1, 'reject', false, 'not_fired', 'LS_GPIO_WRITE'],
      [2, 'reject', false, 'not_fired', 'LS_GPIO_WRITE'],
    ]);
    expect(rig.line.summary()).toMatchObject({ gatePulses: 0, gateNotFired: 2 });
  });

  it('a stop names every part whose gate moment comes after the safe state, merged rejects included', async () => {
    const rig = await started({ script: () => ({ verdict: 'defective' }), pipeline: { drain_ms: 60 } });
    for (let i = 0; i < 4; i++) {
      rig.trigger.fire('rising', performance.now());
      await advance(50);
    }
    // Parts 1..4 reach the gate at 490, 540, 590, 640 ms: all rejects, merged into one pulse from 490. The stop at
    // 500 ms drains for 60 ms: the gate goes to safe state at 560, before parts 3 and 4 get there.
    await advance(300);
    const stopped = rig.line.stop();
    await advance(200);
    await stopped;
    expect(rig.records.map((r) => [r.seq, r.tracking.fired, r.tracking.outcome])).toEqual([
      [1, true, 'fired'],
      [2, true, 'fired'],
      [3, false, 'safe_state'],
      [4, false, 'safe_state'],
    ]);
    expect(rig.line.summary().safeState).toEqual({ parts: 2, rejectsNotFired: 2, ids: ['run1-3', 'run1-4'] });
  });
});

describe('gate thread: a provisional reject for every undecided part', () => {
  /** Counts every event-loop gate moment (the precise scheduler holds the loop before each). */
  function countingScheduler(): Scheduler & { calls: number } {
    const scheduler = {
      calls: 0,
      at(dueMs: number, fn: (nowMs: number) => void): () => void {
        scheduler.calls++;
        const handle = setTimeout(() => fn(performance.now()), dueMs - performance.now());
        return () => clearTimeout(handle);
      },
    };
    return scheduler;
  }

  it('plans the reject edge on the gate thread at the trigger and withdraws it on a pass: the loop never holds', async () => {
    const gateScheduler = countingScheduler();
    const rig = await started({ withGateThread: true, deps: { gateScheduler } });
    const t0 = performance.now();
    rig.trigger.fire('rising', t0);
    await advance(1);
    expect(rig.timed?.plans).toBe(1);
    await advance(1000);
    expect(rig.records[0]).toMatchObject({ decision: 'pass', tracking: { fired: false, outcome: 'passed' } });
    expect(rig.gate.pulses()).toEqual([]);
    expect(gateScheduler.calls).toBe(0);
  });

  it("an undecided part's edge is switched by the thread on time and the part is recorded 'late'", async () => {
    const gateScheduler = countingScheduler();
    const rig = await started({
      withGateThread: true,
      deps: { gateScheduler },
      script: () => ({ inspectMs: 600 }),
      inspectTimeoutMs: 2000,
    });
    const t0 = performance.now();
    rig.trigger.fire('rising', t0);
    await advance(1000);
    expect(rig.gate.pulses()).toEqual([{ startMs: t0 + 490, endMs: t0 + 570 }]);
    expect(rig.records[0]).toMatchObject({
      decision: 'reject',
      failsafeReason: 'late',
      tracking: { fired: true, firedMs: t0 + 490, outcome: 'fired' },
    });
    expect(gateScheduler.calls).toBe(0);
  });

  it('a pass verdict that comes after the gate committed to an open pulse for the part is recorded as the reject it was', async () => {
    // Part 1 is defective; part 2 (50 ms behind) is judged ok 10 ms after part 1's pulse opened, but that pulse
    // already covers part 2's moment (merge): the gate is open when part 2 goes by.
    const rig = await started({
      withGateThread: true,
      script: (i) => (i === 0 ? { verdict: 'defective' } : { inspectMs: 430, verdict: 'ok' }),
      inspectTimeoutMs: 2000,
    });
    const t0 = performance.now();
    rig.trigger.fire('rising', t0);
    await advance(50);
    rig.trigger.fire('rising', performance.now());
    await advance(1000);
    expect(rig.gate.pulses()).toEqual([{ startMs: t0 + 490, endMs: t0 + 620 }]);
    expect(
      rig.records.map((r) => [r.seq, r.verdict, r.decision, r.failsafeReason ?? null, r.tracking.outcome]),
    ).toEqual([
      [1, 'defective', 'reject', null, 'fired'],
      [2, 'ok', 'reject', 'late', 'fired'],
    ]);
  });
});

describe('a GPIO line lost after start (GpioDriver.onError)', () => {
  it('the gate output lost: alarm, line unhealthy, and rejects recorded not fired until acknowledged', async () => {
    const rig = await started({ script: () => ({ verdict: 'defective' }) });
    rig.line.lineFault('gate', new LinesideError('LS_GPIO_UNAVAILABLE', 'gpioset supervisor exited with code 1'));
    await advance(0);
    expect(rig.alarms.map((a) => a.kind)).toEqual(['gpio_unavailable']);
    expect(rig.line.progress()).toBe(false);
    rig.trigger.fire();
    await advance(1000);
    expect(rig.records[0]).toMatchObject({
      decision: 'reject',
      errorCode: 'LS_GPIO_UNAVAILABLE',
      tracking: { fired: false, outcome: 'not_fired' },
    });
    expect(rig.line.acknowledge('all').map((a) => a.kind)).toEqual(['gpio_unavailable']);
    expect(rig.line.progress()).toBe(true);
    rig.trigger.fire();
    await advance(1000);
    expect(rig.records[1]).toMatchObject({ decision: 'reject', tracking: { fired: true, outcome: 'fired' } });
    expect(rig.line.summary().gateNotFired).toBe(1);
  });

  it('the trigger input lost: alarm and line unhealthy until acknowledged; parts still flow', async () => {
    const rig = await started();
    rig.line.lineFault('trigger', new LinesideError('LS_GPIO_UNAVAILABLE', 'gpiomon exited with code 1'));
    await advance(0);
    expect(rig.alarms[0]?.message).toContain('gpio line "trigger"');
    expect(rig.line.progress()).toBe(false);
    rig.line.acknowledge('all');
    expect(rig.line.progress()).toBe(true);
  });
});

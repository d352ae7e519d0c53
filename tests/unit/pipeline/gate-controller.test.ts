import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/pipeline/clock.js';
import { GateController, type GateControllerDeps } from '../../../src/pipeline/gate-controller.js';
import { PreciseScheduler, TimeoutScheduler } from '../../../src/pipeline/scheduler.js';
import { FakeOutput, FakeTimedSwitch } from './fakes.js';

function makeGate(over: Partial<GateControllerDeps> = {}) {
  const clock = systemClock();
  const output = new FakeOutput('gate');
  const fired: { seq: number; firedMs: number; requestedMs: number }[] = [];
  const errors: { err: unknown; seqs: readonly number[] }[] = [];
  const closed: number[] = [];
  const gate = new GateController({
    output,
    clock,
    scheduler: new PreciseScheduler({ clock, holdMs: 0 }),
    coarse: new TimeoutScheduler({ clock }),
    pulseMs: 80,
    minGapMs: 20,
    merge: true,
    energisedPosition: 'reject',
    onFired: (seqs, firedMs, requestedMs) => seqs.forEach((seq) => fired.push({ seq, firedMs, requestedMs })),
    onWriteError: (err, seqs) => errors.push({ err, seqs }),
    onClosed: () => closed.push(performance.now()),
    ...over,
  });
  return { gate, output, fired, errors, closed };
}

describe('GateController', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('forces the safe (inactive) state at boot and stays inactive when armed as an energise-to-reject gate', () => {
    const { gate, output } = makeGate();
    gate.safe();
    gate.arm();
    expect(output.writes.map((w) => w.level)).toEqual([false, false]);
  });

  it('one reject is one pulse of pulse_ms starting at the requested time', async () => {
    const { gate, output, fired } = makeGate();
    gate.safe();
    gate.arm();
    const t0 = performance.now();
    gate.request(1, t0 + 100);
    await vi.advanceTimersByTimeAsync(99);
    expect(output.active).toBe(false);
    await vi.advanceTimersByTimeAsync(300);
    expect(output.pulses()).toEqual([{ startMs: t0 + 100, endMs: t0 + 180 }]);
    expect(fired).toEqual([{ seq: 1, firedMs: t0 + 100, requestedMs: t0 + 100 }]);
    expect(gate.pulseCount).toBe(1);
  });

  it('merges back-to-back rejects into one longer pulse', async () => {
    const { gate, output, fired } = makeGate();
    gate.safe();
    gate.arm();
    const t0 = performance.now();
    gate.request(1, t0 + 100);
    gate.request(2, t0 + 150);
    // Starts 90 ms after the end of #2's pulse would be: within pulse + gap of nothing, so a separate pulse.
    gate.request(3, t0 + 320);
    // Due 10 ms after #3's pulse ends: closer than min_gap, so it rides on #3's pulse.
    gate.request(4, t0 + 410);
    await vi.advanceTimersByTimeAsync(1000);
    expect(output.pulses()).toEqual([
      { startMs: t0 + 100, endMs: t0 + 230 },
      { startMs: t0 + 320, endMs: t0 + 490 },
    ]);
    expect(gate.pulseCount).toBe(2);
    expect(fired.map((f) => f.seq)).toEqual([1, 2, 3, 4]);
    expect(fired.find((f) => f.seq === 2)?.firedMs).toBe(t0 + 150);
  });

  it('without merge keeps min_gap between pulses, starting the next one late', async () => {
    const { gate, output, fired } = makeGate({ merge: false });
    gate.safe();
    gate.arm();
    const t0 = performance.now();
    gate.request(1, t0 + 100);
    gate.request(2, t0 + 150);
    await vi.advanceTimersByTimeAsync(1000);
    expect(output.pulses()).toEqual([
      { startMs: t0 + 100, endMs: t0 + 180 },
      { startMs: t0 + 200, endMs: t0 + 280 },
    ]);
    const second = fired.find((f) => f.seq === 2);
    expect(second && second.firedMs - second.requestedMs).toBe(50);
  });

  it('honours min_gap after a pulse even with merge when the next reject arrives only after the gate closed', async () => {
    const { gate, output } = makeGate();
    gate.safe();
    gate.arm();
    const t0 = performance.now();
    gate.request(1, t0);
    await vi.advanceTimersByTimeAsync(85);
    // Arrives 5 ms after the gate closed (it was not known in time to merge): waits out the gap.
    gate.request(2, performance.now());
    await vi.advanceTimersByTimeAsync(500);
    expect(output.pulses()).toEqual([
      { startMs: t0, endMs: t0 + 80 },
      { startMs: t0 + 100, endMs: t0 + 180 },
    ]);
  });

  it("energised 'pass' (fail-safe diverter): held active while armed, a reject drops it, safe state is inactive", async () => {
    const { gate, output } = makeGate({ energisedPosition: 'pass' });
    gate.safe();
    expect(output.active).toBe(false);
    gate.arm();
    expect(output.active).toBe(true);
    const t0 = performance.now();
    gate.request(1, t0 + 10);
    await vi.advanceTimersByTimeAsync(50);
    expect(output.active).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    expect(output.active).toBe(true);
    expect(output.writes.map((w) => [w.level, w.timeMs - t0])).toEqual([
      [false, 0],
      [true, 0],
      [false, 10],
      [true, 90],
    ]);
    gate.disarm();
    expect(output.active).toBe(false);
  });

  it('disarm returns the rejects it will not fire and leaves the gate in safe state', async () => {
    const { gate, output, fired } = makeGate();
    gate.safe();
    gate.arm();
    const t0 = performance.now();
    gate.request(7, t0 + 100);
    gate.request(8, t0 + 400);
    await vi.advanceTimersByTimeAsync(120);
    expect(output.active).toBe(true);
    expect(gate.disarm()).toEqual([8]);
    expect(output.active).toBe(false);
    await vi.advanceTimersByTimeAsync(1000);
    expect(fired.map((f) => f.seq)).toEqual([7]);
    expect(gate.request(9, performance.now())).toBe(false);
  });

  it('reports a failed write with the parts it was for', async () => {
    const { gate, output, errors, fired } = makeGate();
    gate.safe();
    gate.arm();
    output.failWrites = true;
    gate.request(3, performance.now());
    await vi.advanceTimersByTimeAsync(1);
    expect(errors[0]?.seqs).toEqual([3]);
    expect(fired).toEqual([]);
  });

  it('a reject merged into an open pulse is reported fired when it reaches the gate, and dropped by a disarm before that', async () => {
    const { gate, fired } = makeGate();
    gate.safe();
    gate.arm();
    const t0 = performance.now();
    gate.request(1, t0 + 100);
    gate.request(2, t0 + 150);
    gate.request(3, t0 + 240);
    await vi.advanceTimersByTimeAsync(120);
    // #2 and #3 ride on #1's pulse, but neither has reached the gate yet.
    expect(fired.map((f) => f.seq)).toEqual([1]);
    await vi.advanceTimersByTimeAsync(40);
    expect(fired.map((f) => [f.seq, f.firedMs - t0])).toEqual([
      [1, 100],
      [2, 150],
    ]);
    // Safe state before #3's moment: the gate will not move for it, so it was never fired.
    expect(gate.disarm()).toEqual([3]);
    await vi.advanceTimersByTimeAsync(500);
    expect(fired.map((f) => f.seq)).toEqual([1, 2]);
  });

  it('a reject covered by a held gate is reported fired at its own moment, not when it is requested', async () => {
    const { gate, fired } = makeGate();
    gate.safe();
    gate.arm();
    const t0 = performance.now();
    gate.holdReject();
    gate.request(5, t0 + 200);
    await vi.advanceTimersByTimeAsync(100);
    expect(fired).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    expect(fired).toEqual([{ seq: 5, firedMs: t0 + 200, requestedMs: t0 + 200 }]);
  });

  it('a reject whose opening write failed opens no pulse: later rejects get their own attempt, never a merge into it', async () => {
    const { gate, output, errors, fired } = makeGate();
    gate.safe();
    gate.arm();
    output.failWrites = true;
    const t0 = performance.now();
    gate.request(1, t0 + 100);
    // Due inside the pulse #1 would have had: it must not be reported as covered by it.
    gate.request(2, t0 + 150);
    await vi.advanceTimersByTimeAsync(400);
    expect(fired).toEqual([]);
    expect(errors.map((e) => e.seqs)).toEqual([[1], [2]]);
    expect(gate.pulseCount).toBe(0);
    expect(gate.isRejecting).toBe(false);
    output.failWrites = false;
    gate.request(3, t0 + 500);
    await vi.advanceTimersByTimeAsync(300);
    expect(fired.map((f) => f.seq)).toEqual([3]);
    expect(output.pulses()).toEqual([{ startMs: t0 + 500, endMs: t0 + 580 }]);
  });

  it('holdReject holds the reject position, covers pending and new rejects, and releaseHold ends it one pulse later', async () => {
    for (const energisedPosition of ['reject', 'pass'] as const) {
      vi.useFakeTimers();
      const { gate, output, fired, closed } = makeGate({ energisedPosition, merge: false });
      const rejectLevel = energisedPosition === 'reject';
      gate.safe();
      gate.arm();
      const t0 = performance.now();
      gate.request(1, t0 + 50);
      gate.holdReject();
      expect(output.active).toBe(rejectLevel);
      // Covered by the hold, but reported fired only when it reaches the gate (a stop before then drops it).
      expect(fired).toEqual([]);
      await vi.advanceTimersByTimeAsync(50);
      expect(fired).toEqual([{ seq: 1, firedMs: t0 + 50, requestedMs: t0 + 50 }]);
      await vi.advanceTimersByTimeAsync(950);
      expect(gate.request(2, performance.now())).toBe(true);
      expect(fired[1]).toEqual({ seq: 2, firedMs: t0 + 1000, requestedMs: t0 + 1000 });
      expect(output.active).toBe(rejectLevel);
      expect(gate.isHeld).toBe(true);
      gate.releaseHold();
      await vi.advanceTimersByTimeAsync(79);
      expect(output.active).toBe(rejectLevel);
      await vi.advanceTimersByTimeAsync(1);
      expect(output.active).toBe(!rejectLevel);
      expect(closed).toEqual([t0 + 1080]);
      expect(gate.pulseCount).toBe(1);
      vi.useRealTimers();
    }
  });

  it('refresh rewrites the current level and says whether the write worked', () => {
    const { gate, output, errors } = makeGate();
    gate.safe();
    gate.arm();
    output.failWrites = true;
    expect(gate.refresh()).toBe(false);
    expect(errors).toHaveLength(1);
    output.failWrites = false;
    const writes = output.writes.length;
    expect(gate.refresh()).toBe(true);
    expect(output.writes.slice(writes).map((w) => w.level)).toEqual([false]);
  });
});

describe('GateController with the gate thread (gate.timer: thread)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function threaded(over: Partial<GateControllerDeps> = {}) {
    const clock = systemClock();
    const loopEdges: number[] = [];
    const scheduler = new PreciseScheduler({ clock, holdMs: 0 });
    const counting = {
      at: (dueMs: number, fn: (nowMs: number) => void) => {
        loopEdges.push(dueMs);
        return scheduler.at(dueMs, fn);
      },
    };
    const output = new FakeOutput('gate');
    const timed = new FakeTimedSwitch(output);
    const made = makeGate({ output, scheduler: counting, timed, ...over });
    made.gate.safe();
    made.gate.arm();
    return { ...made, output, timed, loopEdges, t0: performance.now() };
  }

  it('the thread makes the reject edge at the due time; the pulse ends pulse_ms after the switch, not after the report', async () => {
    const { gate, output, fired, timed, loopEdges, t0 } = threaded();
    timed.reportDelayMs = 7;
    gate.request(1, t0 + 100);
    await vi.advanceTimersByTimeAsync(400);
    expect(output.pulses()).toEqual([{ startMs: t0 + 100, endMs: t0 + 180 }]);
    expect(fired).toEqual([{ seq: 1, firedMs: t0 + 100, requestedMs: t0 + 100 }]);
    expect(loopEdges).toEqual([]);
    expect(gate.pulseCount).toBe(1);
  });

  it('withdraw: a planned edge withdrawn in time never switches, and the next reject is planned in its place', async () => {
    const { gate, output, fired, timed, t0 } = threaded();
    gate.request(1, t0 + 100);
    gate.request(2, t0 + 300);
    await vi.advanceTimersByTimeAsync(50);
    expect(gate.withdraw(1)).toBe(true);
    // Withdrawing a reject that is not the head re-plans nothing.
    gate.request(3, t0 + 500);
    const plans = timed.plans;
    expect(gate.withdraw(3)).toBe(true);
    expect(timed.plans).toBe(plans);
    await vi.advanceTimersByTimeAsync(600);
    expect(output.pulses()).toEqual([{ startMs: t0 + 300, endMs: t0 + 380 }]);
    expect(fired.map((f) => f.seq)).toEqual([2]);
  });

  it('withdraw after the thread switched (its report still on the way) is too late: the reject is reported fired at once', async () => {
    const { gate, output, fired, timed, t0 } = threaded();
    timed.reportDelayMs = 5;
    gate.request(1, t0 + 100);
    await vi.advanceTimersByTimeAsync(102);
    expect(output.active).toBe(true);
    expect(fired).toEqual([]);
    expect(gate.withdraw(1)).toBe(false);
    expect(fired).toEqual([{ seq: 1, firedMs: t0 + 100, requestedMs: t0 + 100 }]);
    await vi.advanceTimersByTimeAsync(300);
    expect(output.pulses()).toEqual([{ startMs: t0 + 100, endMs: t0 + 180 }]);
  });

  it('withdraw of a reject riding on an open pulse is too late: it is reported fired when it gets there', async () => {
    const { gate, fired, t0 } = threaded();
    gate.request(1, t0 + 100);
    gate.request(2, t0 + 150);
    await vi.advanceTimersByTimeAsync(120);
    expect(gate.withdraw(2)).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    expect(fired.map((f) => [f.seq, f.firedMs - t0])).toEqual([
      [1, 100],
      [2, 150],
    ]);
  });

  it('a reject due earlier replaces the planned edge; back-to-back rejects still merge', async () => {
    const { gate, output, fired, timed, t0 } = threaded();
    gate.request(1, t0 + 100);
    gate.request(2, t0 + 50);
    gate.request(3, t0 + 400);
    await vi.advanceTimersByTimeAsync(1000);
    expect(output.pulses()).toEqual([
      { startMs: t0 + 50, endMs: t0 + 180 },
      { startMs: t0 + 400, endMs: t0 + 480 },
    ]);
    expect(fired.map((f) => f.seq)).toEqual([2, 1, 3]);
    expect(timed.plans).toBeGreaterThanOrEqual(3);
  });

  it('an edge the thread made before the loop heard of it is counted once, when the plan is withdrawn', async () => {
    const { gate, output, fired, timed, t0 } = threaded();
    timed.reportDelayMs = 10;
    gate.request(1, t0 + 100);
    await vi.advanceTimersByTimeAsync(103);
    // Switched at +100, not yet reported: a new request withdraws the plan and learns it already happened.
    expect(output.active).toBe(true);
    expect(fired).toEqual([]);
    gate.request(2, t0 + 500);
    expect(fired).toEqual([{ seq: 1, firedMs: t0 + 100, requestedMs: t0 + 100 }]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(fired.map((f) => f.seq)).toEqual([1, 2]);
    expect(output.pulses()).toEqual([
      { startMs: t0 + 100, endMs: t0 + 180 },
      { startMs: t0 + 500, endMs: t0 + 580 },
    ]);
  });

  it('disarm after an unreported switch reports that part fired, not dropped', async () => {
    const { gate, fired, timed, t0 } = threaded();
    timed.reportDelayMs = 10;
    gate.request(1, t0 + 100);
    await vi.advanceTimersByTimeAsync(102);
    expect(gate.disarm()).toEqual([]);
    expect(fired.map((f) => f.seq)).toEqual([1]);
  });

  it('a dead thread hands its plan back: the edge is made on the event loop, and later ones too', async () => {
    const { gate, output, fired, timed, loopEdges, t0 } = threaded();
    gate.request(1, t0 + 100);
    await vi.advanceTimersByTimeAsync(50);
    timed.die();
    gate.request(2, t0 + 300);
    await vi.advanceTimersByTimeAsync(1000);
    expect(output.pulses()).toEqual([
      { startMs: t0 + 100, endMs: t0 + 180 },
      { startMs: t0 + 300, endMs: t0 + 380 },
    ]);
    expect(fired.map((f) => f.seq)).toEqual([1, 2]);
    // Re-planned on the loop each time the plan changes; no edge left for the dead thread.
    expect(new Set(loopEdges)).toEqual(new Set([t0 + 100, t0 + 300]));
    expect(timed.plans).toBe(1);
  });

  it("a failed write on the thread is reported for that part's seq and no pulse is counted", async () => {
    const { gate, errors, fired, timed, t0 } = threaded();
    timed.failWrites = true;
    gate.request(7, t0 + 100);
    await vi.advanceTimersByTimeAsync(500);
    expect(fired).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.seqs).toEqual([7]);
    expect(gate.pulseCount).toBe(0);
  });
});

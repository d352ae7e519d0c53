import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Clock, TimerHandle } from '../../../src/pipeline/clock.js';
import { systemClock } from '../../../src/pipeline/clock.js';
import { PreciseScheduler, TimeoutScheduler } from '../../../src/pipeline/scheduler.js';

/**
 * A clock whose time moves a little on every read (like a real one under a spin loop) and whose timers
 * the test runs by hand, waking them early or late on purpose.
 */
function manualClock(stepMs: number) {
  let t = 0;
  const timers = new Map<number, { fn: () => void; atMs: number }>();
  let nextId = 1;
  const clock: Clock = {
    now: () => (t += stepMs),
    wallNow: () => 0,
    setTimeout: (fn, delayMs) => {
      const id = nextId++;
      timers.set(id, { fn, atMs: t + delayMs });
      return id as unknown as TimerHandle;
    },
    clearTimeout: (h) => {
      timers.delete(h as unknown as number);
    },
  };
  return {
    clock,
    timers,
    setTime: (ms: number) => {
      t = ms;
    },
    time: () => t,
    /** Run the earliest timer, with the clock set to its due time plus an error (negative = woken early). */
    runNext: (errorMs = 0) => {
      const [id, timer] = [...timers.entries()].sort((a, b) => a[1].atMs - b[1].atMs)[0] ?? [];
      if (id === undefined || timer === undefined) throw new Error('no timer');
      timers.delete(id);
      t = timer.atMs + errorMs;
      timer.fn();
    },
  };
}

describe('PreciseScheduler', () => {
  it('sleeps on a timer until holdMs (+1 ms slack) before due, then spins to the due time', () => {
    const m = manualClock(0.01);
    const s = new PreciseScheduler({ clock: m.clock, holdMs: 2 });
    const fired: number[] = [];
    s.at(100, (nowMs) => fired.push(nowMs));
    const timer = [...m.timers.values()][0];
    expect(timer?.atMs).toBeGreaterThan(97);
    expect(timer?.atMs).toBeLessThan(98.1);
    m.runNext();
    expect(fired).toHaveLength(1);
    expect(fired[0]).toBeGreaterThanOrEqual(100);
    expect(fired[0]).toBeLessThan(100.02);
  });

  it('goes back to sleep when its timer wakes it early instead of spinning for long', () => {
    const m = manualClock(0.01);
    const s = new PreciseScheduler({ clock: m.clock, holdMs: 2 });
    const fired: number[] = [];
    s.at(100, (nowMs) => fired.push(nowMs));
    m.runNext(-20);
    expect(fired).toHaveLength(0);
    expect(m.timers.size).toBe(1);
    m.runNext();
    expect(fired[0]).toBeGreaterThanOrEqual(100);
  });

  it('a timer woken late fires at once (late, never early)', () => {
    const m = manualClock(0.01);
    const s = new PreciseScheduler({ clock: m.clock, holdMs: 2 });
    const fired: number[] = [];
    s.at(100, (nowMs) => fired.push(nowMs));
    m.runNext(5);
    expect(fired[0]).toBeGreaterThan(100);
  });

  it('never calls back synchronously, even when already due, and can be cancelled', async () => {
    const m = manualClock(0.01);
    m.setTime(50);
    const s = new PreciseScheduler({ clock: m.clock, holdMs: 2 });
    const fired: string[] = [];
    s.at(40, () => fired.push('past'));
    const cancel = s.at(51, () => fired.push('cancelled'));
    cancel();
    expect(fired).toEqual([]);
    await Promise.resolve();
    expect(fired).toEqual(['past']);
    const cancelTimer = s.at(500, () => fired.push('never'));
    expect(m.timers.size).toBe(1);
    cancelTimer();
    expect(m.timers.size).toBe(0);
  });
});

describe('schedulers on fake timers', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holdMs 0 and TimeoutScheduler fire exactly at the due time', async () => {
    vi.useFakeTimers();
    const clock = systemClock();
    const start = clock.now();
    const precise = new PreciseScheduler({ clock, holdMs: 0 });
    const plain = new TimeoutScheduler({ clock });
    const fired: [string, number][] = [];
    precise.at(start + 37, (t) => fired.push(['precise', t - start]));
    plain.at(start + 12, (t) => fired.push(['plain', t - start]));
    await vi.advanceTimersByTimeAsync(100);
    expect(fired).toEqual([
      ['plain', 12],
      ['precise', 37],
    ]);
  });
});

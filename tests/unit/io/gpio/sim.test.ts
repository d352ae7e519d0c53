import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { simGpio, type SimGpioConfig } from '../../../../src/config/sections/gpio.js';
import {
  createGpio,
  isSimGpio,
  type EdgeEvent,
  type LineConfig,
  type SimGpioDriver,
} from '../../../../src/io/gpio/index.js';
import { captureLogger, signal } from './helpers.js';

const RISING: LineConfig = { line: 0, active_low: false, edge: 'rising', debounce_ms: 0 };
const BOTH: LineConfig = { line: 0, active_low: false, edge: 'both', debounce_ms: 0 };
const OUT: LineConfig = { line: 0, active_low: false };

function makeSim(overrides: Partial<SimGpioConfig> = {}, log = captureLogger()): SimGpioDriver {
  const config = simGpio.parse({ type: 'sim', ...overrides });
  const driver = createGpio(config, { logger: log.logger });
  if (!isSimGpio(driver)) throw new Error('expected the sim driver');
  return driver;
}

function record(input: { onEdge(l: (e: EdgeEvent) => void): () => void }): EdgeEvent[] {
  const events: EdgeEvent[] = [];
  input.onEdge((e) => events.push(e));
  return events;
}

/**
 * A started sim belt: parts every 50 ms (20 ms long) that reach the gate 300 ms after the photo-eye, a started
 * gate output and confirm input, and the confirm sensor's recorded edges. Part i is at the eye at t0 + 50 i.
 */
async function startBelt(overrides: Partial<SimGpioConfig>, gateLine: LineConfig = OUT) {
  const sim = makeSim({
    part_interval_ms: 50,
    part_length_ms: 20,
    gate_transit_ms: 300,
    confirm_delay_ms: 40,
    ...overrides,
  });
  const gate = sim.output('gate', gateLine);
  const confirm = sim.input('confirm', BOTH);
  const trigger = sim.input('trigger', RISING);
  const events = record(confirm);
  const t0 = performance.now();
  await sim.start(signal);
  await gate.start(signal);
  await confirm.start(signal);
  await trigger.start(signal);
  return { sim, gate, events, t0 };
}

/** Confirm edges as [edge, ms after t0]. */
function confirmEdges(events: readonly EdgeEvent[], t0: number): [string, number][] {
  return events.map((e) => [e.edge, e.timeMs - t0]);
}

describe('sim gpio driver', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs on the faked performance.now() clock', () => {
    const before = performance.now();
    vi.advanceTimersByTime(1234);
    expect(performance.now() - before).toBe(1234);
  });

  it('generates parts on the photo-eye: rising at arrival, falling part_length_ms later, on schedule', async () => {
    const sim = makeSim({ part_interval_ms: 500, part_length_ms: 40 });
    const trigger = sim.input('trigger', BOTH);
    const events = record(trigger);
    const t0 = performance.now();
    await sim.start(signal);
    await trigger.start(signal);
    vi.advanceTimersByTime(1600);
    expect(events.map((e) => [e.edge, e.timeMs - t0])).toEqual([
      ['rising', 500],
      ['falling', 540],
      ['rising', 1000],
      ['falling', 1040],
      ['rising', 1500],
      ['falling', 1540],
    ]);
    expect(sim.partsGenerated).toBe(3);
    expect(trigger.read()).toBe(false);
    await sim.stop();
  });

  it('reports ground-truth part arrivals that match the trigger edges', async () => {
    const sim = makeSim({ part_interval_ms: 100, part_jitter_ms: 30, seed: 7 });
    const trigger = sim.input('trigger', RISING);
    const events = record(trigger);
    const parts: number[] = [];
    sim.onPart((p) => parts.push(p.timeMs));
    await sim.start(signal);
    await trigger.start(signal);
    vi.advanceTimersByTime(2000);
    expect(parts.length).toBeGreaterThan(10);
    expect(events.map((e) => e.timeMs)).toEqual(parts);
    await sim.stop();
  });

  it('generates parts only while the driver AND the trigger input are started', async () => {
    const sim = makeSim({ part_interval_ms: 100 });
    const trigger = sim.input('trigger', RISING);
    await sim.start(signal);
    vi.advanceTimersByTime(500);
    expect(sim.partsGenerated).toBe(0);
    expect(sim.generating).toBe(false);
    await trigger.start(signal);
    expect(sim.generating).toBe(true);
    vi.advanceTimersByTime(350);
    expect(sim.partsGenerated).toBe(3);
    await trigger.stop();
    vi.advanceTimersByTime(500);
    expect(sim.partsGenerated).toBe(3);
    await sim.stop();
  });

  it('with autostart false generates nothing until startParts(), and stopParts() halts the line', async () => {
    const sim = makeSim({ part_interval_ms: 100, autostart: false });
    const trigger = sim.input('trigger', RISING);
    const events = record(trigger);
    await sim.start(signal);
    await trigger.start(signal);
    vi.advanceTimersByTime(1000);
    expect(events).toHaveLength(0);
    sim.startParts();
    vi.advanceTimersByTime(250);
    expect(events).toHaveLength(2);
    sim.stopParts();
    vi.advanceTimersByTime(1000);
    expect(events).toHaveLength(2);
    await sim.stop();
  });

  it('makes jitter deterministic per seed and keeps intervals within [-jitter, +jitter] and longer than a part', async () => {
    async function arrivals(seed: number): Promise<number[]> {
      const sim = makeSim({ part_interval_ms: 100, part_jitter_ms: 80, part_length_ms: 40, seed });
      const trigger = sim.input('trigger', RISING);
      const times: number[] = [];
      const t0 = performance.now();
      trigger.onEdge((e) => times.push(e.timeMs - t0));
      await sim.start(signal);
      await trigger.start(signal);
      vi.advanceTimersByTime(5000);
      await sim.stop();
      return times;
    }
    const a = await arrivals(42);
    const b = await arrivals(42);
    const c = await arrivals(43);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const gaps = a.map((t, i) => t - (i === 0 ? 0 : a[i - 1]!));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(41);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(180);
    // Jitter really varies the gaps (not a constant interval).
    expect(new Set(gaps.map(Math.round)).size).toBeGreaterThan(10);
  });

  it('batches a 10 kHz encoder into few timer wakeups with exact interpolated timestamps', async () => {
    const sim = makeSim({ encoder_hz: 10_000, encoder_tick_ms: 2 });
    const encoder = sim.input('encoder', RISING);
    const t0 = performance.now();
    const times: number[] = [];
    const deliveredAt = new Set<number>();
    const lateness: number[] = [];
    encoder.onEdge((e) => {
      times.push(e.timeMs - t0);
      deliveredAt.add(performance.now());
      lateness.push(performance.now() - e.timeMs);
    });
    await sim.start(signal);
    await encoder.start(signal);
    vi.advanceTimersByTime(100);
    expect(times).toHaveLength(1000);
    expect(sim.encoderPulses).toBe(1000);
    for (let i = 1; i < times.length; i += 1) expect(times[i]! - times[i - 1]!).toBeCloseTo(0.1, 9);
    // One delivery per 2 ms tick, not one timer per pulse.
    expect(deliveredAt.size).toBeLessThanOrEqual(51);
    // No pulse is delivered before it happened, nor later than one tick after.
    expect(Math.min(...lateness)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...lateness)).toBeLessThanOrEqual(2);
    await sim.stop();
  });

  it('changes belt speed and stops the encoder with setEncoderHz', async () => {
    const sim = makeSim({ encoder_hz: 100 });
    const encoder = sim.input('encoder', RISING);
    const events = record(encoder);
    const t0 = performance.now();
    await sim.start(signal);
    await encoder.start(signal);
    vi.advanceTimersByTime(100);
    expect(events).toHaveLength(10);
    sim.setEncoderHz(1000);
    expect(sim.encoderHz).toBe(1000);
    vi.advanceTimersByTime(100);
    expect(events.length).toBeGreaterThanOrEqual(109);
    expect(events.length).toBeLessThanOrEqual(111);
    const last = events.at(-1)!.timeMs;
    expect(events.at(-1)!.timeMs - events.at(-2)!.timeMs).toBeCloseTo(1, 9);
    sim.setEncoderHz(0);
    const count = events.length;
    vi.advanceTimersByTime(1000);
    expect(events).toHaveLength(count);
    expect(last - t0).toBeLessThanOrEqual(200);
    sim.setEncoderHz(50);
    vi.advanceTimersByTime(100);
    expect(events).toHaveLength(count + 5);
    await sim.stop();
  });

  it('records every output write with its time and forces the safe state at start and stop', async () => {
    const sim = makeSim();
    const gate = sim.output('gate', OUT);
    const lamp = sim.output('alarm', { line: 1, active_low: true });
    expect(() => gate.write(true)).toThrow(expect.objectContaining({ code: 'LS_GPIO_WRITE' }));
    await sim.start(signal);
    await gate.start(signal);
    await lamp.start(signal);
    const t0 = performance.now();
    vi.advanceTimersByTime(10);
    gate.write(true);
    expect(gate.active).toBe(true);
    vi.advanceTimersByTime(80);
    gate.write(false);
    lamp.write(true);
    await sim.stop();
    expect(sim.writes('gate').map((w) => [w.cause, w.active, w.timeMs - t0])).toEqual([
      ['start', false, 0],
      ['write', true, 10],
      ['write', false, 90],
      ['stop', false, 90],
    ]);
    // active_low: logical on is electrically low, the safe state electrically high.
    expect(sim.writes('alarm').map((w) => [w.cause, w.active, w.level])).toEqual([
      ['start', false, true],
      ['write', true, false],
      ['stop', false, true],
    ]);
    expect(gate.active).toBe(false);
    expect(() => gate.write(true)).toThrow(expect.objectContaining({ code: 'LS_GPIO_WRITE' }));
  });

  it('diverts every part at the gate while it rejects: one confirm pulse per part, also when one pulse covers three', async () => {
    const { sim, gate, events, t0 } = await startBelt({});
    // Parts 1-3 reach the gate at 350, 400 and 450 ms; one merged pulse from 340 to 470 ms covers all three.
    vi.advanceTimersByTime(340);
    gate.write(true);
    vi.advanceTimersByTime(130);
    gate.write(false);
    vi.advanceTimersByTime(600);
    expect(confirmEdges(events, t0).slice(0, 6)).toEqual([
      ['rising', 390],
      ['falling', 410],
      ['rising', 440],
      ['falling', 460],
      ['rising', 490],
      ['falling', 510],
    ]);
    // Part 4 (at the gate at 500 ms) and the later ones passed: the gate was back in its pass position.
    expect(events).toHaveLength(6);
    expect(sim.partsDiverted).toBe(3);
    await sim.stop();
  });

  it('with gate.energised_position pass the gate diverts while de-energised: a reject is a drop, not a rise', async () => {
    const { sim, gate, events, t0 } = await startBelt({}, { ...OUT, energised_position: 'pass' });
    gate.write(true); // armed: held in pass
    vi.advanceTimersByTime(340);
    gate.write(false); // one reject pulse for parts 1-3, as above
    vi.advanceTimersByTime(130);
    gate.write(true);
    vi.advanceTimersByTime(600);
    expect(confirmEdges(events, t0).filter(([edge]) => edge === 'rising')).toEqual([
      ['rising', 390],
      ['rising', 440],
      ['rising', 490],
    ]);
    expect(sim.partsDiverted).toBe(3);
    await sim.stop();
  });

  it('with gate.energised_position pass a gate left de-energised (safe state, dead daemon) diverts every part', async () => {
    const { sim, events } = await startBelt({}, { ...OUT, energised_position: 'pass' });
    vi.advanceTimersByTime(1000);
    // Parts 1-13 reached the gate by 1000 ms (part 14 at 1000 ms is still on it); each was seen in the chute.
    expect(sim.partsDiverted).toBe(13);
    expect(events.filter((e) => e.edge === 'rising').length).toBeGreaterThanOrEqual(12);
    await sim.stop();
  });

  it('the gate thread switches the shared wire; the write log and the diverter use the time it switched', async () => {
    const { sim, gate, events, t0 } = await startBelt({});
    const target = gate.offThread?.();
    if (target?.kind !== 'shared') throw new Error('sim outputs are switched through a shared wire');
    vi.advanceTimersByTime(355);
    // What the gate thread does: store the level, then report the switch time (here 10 ms before the report).
    Atomics.store(new Int32Array(target.wire), 0, 1);
    expect(gate.active).toBe(true);
    gate.switchedOffThread?.(true, t0 + 345);
    vi.advanceTimersByTime(20);
    gate.write(false);
    vi.advanceTimersByTime(500);
    expect(sim.writes('gate').at(-2)).toMatchObject({ cause: 'write', active: true, timeMs: t0 + 345 });
    expect(confirmEdges(events, t0)).toEqual([
      ['rising', 390],
      ['falling', 410],
    ]);
    await sim.stop();
  });

  it('never fires the confirm sensor when confirm_delay_ms is null, though parts still drop into the chute', async () => {
    const { sim, gate, events } = await startBelt({ confirm_delay_ms: null });
    gate.write(true);
    vi.advanceTimersByTime(10_000);
    expect(events).toHaveLength(0);
    expect(sim.partsDiverted).toBeGreaterThan(100);
    await sim.stop();
  });

  it('simulates a failing output', async () => {
    const sim = makeSim();
    const gate = sim.output('gate', OUT);
    await sim.start(signal);
    await gate.start(signal);
    sim.failWrites('gate', true);
    expect(() => gate.write(true)).toThrow(expect.objectContaining({ code: 'LS_GPIO_WRITE' }));
    sim.failWrites('gate', false);
    gate.write(true);
    expect(sim.writes('gate').at(-1)?.active).toBe(true);
    await sim.stop();
  });
});

describe('edge filter and debounce (shared by every driver)', () => {
  it('drops edges closer than debounce_ms to the previous accepted one and keeps the first timestamp', async () => {
    const sim = makeSim({ autostart: false });
    const eye = sim.input('trigger', { line: 0, active_low: false, edge: 'both', debounce_ms: 2 });
    const events = record(eye);
    await sim.start(signal);
    await eye.start(signal);
    expect(sim.inject('trigger', 'rising', 100)).toBe(true);
    expect(sim.inject('trigger', 'falling', 100.5)).toBe(false);
    expect(sim.inject('trigger', 'rising', 101.9)).toBe(false);
    expect(sim.inject('trigger', 'falling', 140)).toBe(true);
    expect(sim.inject('trigger', 'rising', 141.99)).toBe(false);
    expect(sim.inject('trigger', 'rising', 142)).toBe(true);
    expect(events).toEqual([
      { edge: 'rising', timeMs: 100 },
      { edge: 'falling', timeMs: 140 },
      { edge: 'rising', timeMs: 142 },
    ]);
    await sim.stop();
  });

  it('passes only the configured logical edge and tracks the level', async () => {
    const sim = makeSim({ autostart: false });
    const bin = sim.input('bin_full', { line: 0, active_low: true, edge: 'falling', debounce_ms: 0 });
    const events = record(bin);
    await sim.start(signal);
    await bin.start(signal);
    expect(sim.inject('bin_full', 'rising', 10)).toBe(false);
    expect(bin.read()).toBe(true);
    expect(sim.inject('bin_full', 'falling', 20)).toBe(true);
    expect(bin.read()).toBe(false);
    expect(events).toEqual([{ edge: 'falling', timeMs: 20 }]);
    await sim.stop();
  });

  it('re-anchors the debounce when a timestamp goes backwards (a stepped clock) instead of muting the input', async () => {
    const sim = makeSim({ autostart: false });
    const eye = sim.input('trigger', { line: 0, active_low: false, edge: 'rising', debounce_ms: 50 });
    const events = record(eye);
    await sim.start(signal);
    await eye.start(signal);
    sim.inject('trigger', 'rising', 1000);
    sim.inject('trigger', 'rising', 10);
    sim.inject('trigger', 'rising', 30);
    expect(events.map((e) => e.timeMs)).toEqual([1000, 10]);
    await sim.stop();
  });

  it('keeps delivering to other listeners when one throws, and logs the fault', async () => {
    const log = captureLogger();
    const sim = makeSim({ autostart: false }, log);
    const eye = sim.input('trigger', RISING);
    eye.onEdge(() => {
      throw new Error('consumer bug');
    });
    const events = record(eye);
    await sim.start(signal);
    await eye.start(signal);
    sim.inject('trigger', 'rising', 5);
    expect(events).toHaveLength(1);
    expect(log.errors().map((l) => l.msg)).toContain('edge listener threw');
    await sim.stop();
  });

  it('unsubscribes a listener', async () => {
    const sim = makeSim({ autostart: false });
    const eye = sim.input('trigger', RISING);
    const events: EdgeEvent[] = [];
    const off = eye.onEdge((e) => events.push(e));
    await sim.start(signal);
    await eye.start(signal);
    sim.inject('trigger', 'rising', 1);
    off();
    sim.inject('trigger', 'rising', 2);
    expect(events).toHaveLength(1);
    await sim.stop();
  });

  it('delivers nothing to an input that is not started, but the world level still changes', async () => {
    const sim = makeSim({ autostart: false });
    const eye = sim.input('trigger', RISING);
    const events = record(eye);
    await sim.start(signal);
    expect(sim.inject('trigger', 'rising', 1)).toBe(false);
    expect(eye.read()).toBe(true);
    expect(events).toHaveLength(0);
    await sim.stop();
  });
});

describe('gpio registry', () => {
  it('refuses to start a line before its driver and to open a name twice', async () => {
    const sim = makeSim();
    const eye = sim.input('trigger', RISING);
    await expect(eye.start(signal)).rejects.toMatchObject({ code: 'LS_GPIO_UNAVAILABLE' });
    expect(() => sim.output('trigger', OUT)).toThrow(expect.objectContaining({ code: 'LS_GPIO_UNAVAILABLE' }));
  });

  it('rejects an unknown driver type with the list of valid ones', () => {
    const { logger } = captureLogger();
    expect(() => createGpio({ type: 'bogus' } as never, { logger })).toThrow(
      /gpio\.type: unknown driver "bogus" \(valid: sim, onoff, gpiod\)/,
    );
  });

  it('builds each configured driver without touching hardware', () => {
    const { logger } = captureLogger();
    expect(createGpio({ type: 'onoff' }, { logger }).type).toBe('onoff');
    expect(
      createGpio(
        {
          type: 'gpiod',
          chip: 'gpiochip0',
          gpiomon: 'gpiomon',
          gpioset: 'gpioset',
          start_check_ms: 150,
          restart_delay_ms: 1000,
        },
        { logger },
      ).type,
    ).toBe('gpiod');
    expect(isSimGpio(createGpio({ type: 'onoff' }, { logger }))).toBe(false);
  });
});

import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { simGpio } from '../../../src/config/sections/gpio.js';
import type { LineConfig } from '../../../src/io/gpio/types.js';
import { SimGpio } from '../../../src/io/gpio/sim.js';
import { advance, makeRig } from './fakes.js';

/**
 * The line on the simulated conveyor's encoder (src/io/gpio/sim.ts), which delivers pulses in batches every
 * encoder_tick_ms with exact interpolated timestamps, like a real driver reading a pipe.
 */
const line = (n: number): LineConfig => ({ line: n, active_low: false, edge: 'rising', debounce_ms: 0 });
const COUNTS_TO_GATE = 400;
const LEAD_MS = 10;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

async function rigOnSim(hz: number) {
  const signal = new AbortController().signal;
  const gpio = new SimGpio({
    config: simGpio.parse({ type: 'sim', autostart: false, encoder_hz: hz, encoder_tick_ms: 2 }),
    logger: pino({ level: 'silent' }),
  });
  await gpio.start(signal);
  const trigger = gpio.input('trigger', line(1));
  const encoder = gpio.input('encoder', line(5));
  const gate = gpio.output('gate', { line: 2, active_low: false });
  for (const port of [trigger, encoder, gate]) await port.start(signal);
  const edgeTimes: number[] = [];
  encoder.onEdge((ev) => edgeTimes.push(ev.timeMs));
  const rig = makeRig({
    tracking: { mode: 'encoder', counts_to_gate: COUNTS_TO_GATE, encoder: { line: 5 }, max_wait_ms: 60_000 },
    gate: { lead_ms: LEAD_MS },
    script: () => ({ verdict: 'defective' }),
    deps: { trigger, encoder, gate },
  });
  await rig.line.start(signal);
  return { gpio, rig, edgeTimes };
}

/** When the gate should go active: the part reaches the gate at edge number dueCount; lead_ms before that. */
function idealFireMs(edgeTimes: number[], dueCount: number): number {
  const dueEdgeMs = edgeTimes[dueCount - 1];
  if (dueEdgeMs === undefined) throw new Error(`belt did not reach count ${dueCount}`);
  return dueEdgeMs - LEAD_MS;
}

describe('encoder tracking on the simulated conveyor', () => {
  for (const [hz, phaseMs] of [
    [200, 0],
    [1000, 0.3],
    [1000, 1.1],
    [5000, 0.5],
    [5000, 1.7],
  ] as const) {
    it(`fires lead_ms before the part's due count at ${hz} Hz (trigger phase ${phaseMs} ms), within one count period`, async () => {
      const { gpio, rig, edgeTimes } = await rigOnSim(hz);
      await advance(50 + phaseMs);
      gpio.inject('trigger', 'rising');
      await advance((COUNTS_TO_GATE / hz) * 1000 + 200);
      const record = rig.records[0];
      expect(record?.tracking.fired).toBe(true);
      const dueCount = record!.tracking.dueCount!;
      const errorMs = record!.tracking.firedMs! - idealFireMs(edgeTimes, dueCount);
      const periodMs = 1000 / hz;
      expect(errorMs).toBeLessThanOrEqual(periodMs + 0.001);
      expect(errorMs).toBeGreaterThanOrEqual(-(2 + 2 * periodMs) - 0.001);
      expect(gpio.writes('gate').filter((w) => w.active)).toHaveLength(1);
    });
  }

  it('follows a speed change and a stop on the way to the gate', async () => {
    const { gpio, rig, edgeTimes } = await rigOnSim(1000);
    await advance(50);
    gpio.inject('trigger', 'rising');
    await advance(150);
    gpio.setEncoderHz(0);
    await advance(2000);
    expect(rig.records).toHaveLength(0);
    gpio.setEncoderHz(250);
    await advance(100);
    gpio.setEncoderHz(2000);
    await advance(1000);
    const record = rig.records[0]!;
    expect(record.tracking.fired).toBe(true);
    const errorMs = record.tracking.firedMs! - idealFireMs(edgeTimes, record.tracking.dueCount!);
    expect(Math.abs(errorMs)).toBeLessThanOrEqual(2 + 2 * 0.5 + 0.001);
  });
});

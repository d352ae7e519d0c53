/**
 * Gate edge error under event-loop load, shared by `lineside bench` and benchmarks/gate-timing.ts: the sim GPIO
 * driver's gate output (its write log stamps each switch: the event loop its own writes, the gate thread the
 * thread's), the load that benchmark puts on the event loop, and one measured run of the real GateController.
 */
import { pino } from 'pino';
import { simGpio } from '../config/sections/gpio.js';
import type { DigitalOutput } from '../domain/ports.js';
import { GateThread } from '../io/gpio/gate-thread.js';
import { createGpio, isSimGpio } from '../io/gpio/index.js';
import { systemClock } from '../pipeline/clock.js';
import { GateController } from '../pipeline/gate-controller.js';
import { TimeoutScheduler } from '../pipeline/scheduler.js';

export interface SimGate {
  output: DigitalOutput;
  activations: () => number[];
  stop: () => Promise<void>;
}

/** The simulator's own gate output, as the demo line uses it, and the times it went active. */
export async function simGate(): Promise<SimGate> {
  const signal = new AbortController().signal;
  const sim = createGpio(simGpio.parse({ type: 'sim', confirm_delay_ms: null }), { logger: pino({ level: 'silent' }) });
  if (!isSimGpio(sim)) throw new Error('expected the sim GPIO driver');
  await sim.start(signal);
  const output = sim.output('gate', { line: 1, active_low: false });
  await output.start(signal);
  return {
    output,
    activations: () =>
      sim
        .writes('gate')
        .filter((w) => w.cause === 'write' && w.active)
        .map((w) => w.timeMs),
    stop: async () => {
      await output.stop();
      await sim.stop();
    },
  };
}

/**
 * Load on the event loop: every ~1 ms, "logging/MQTT" work (a verdict-sized payload JSON-serialised a few times
 * and copied into a Buffer); every 20-50 ms a synchronous 2-5 ms busy section (a sync fs call, a big JSON parse,
 * a GC pause). Returns the function that stops it.
 */
export function startLoad(): () => void {
  let stopped = false;
  const payload = {
    line_id: 'line1',
    part: {
      id: 'run-1234',
      seq: 1234,
      verdict: 'defective',
      defect_score: 0.93,
      stages_ms: { capture: 12, inference: 40 },
    },
    model: { name: 'casting-cnn', version: '1.0.0', ep: 'cpu' },
  };
  let sink = 0;
  const logWork = (): void => {
    if (stopped) return;
    for (let i = 0; i < 4; i++) sink += Buffer.from(JSON.stringify({ ...payload, t: performance.now() })).length;
    setTimeout(logWork, 1);
  };
  const block = (): void => {
    if (stopped) return;
    const until = performance.now() + 2 + Math.random() * 3;
    while (performance.now() < until) sink++;
    setTimeout(block, 20 + Math.random() * 30);
  };
  logWork();
  setTimeout(block, 10);
  return () => {
    stopped = true;
    if (sink < 0) process.stdout.write('');
  };
}

export interface GateErrorOptions {
  events: number;
  /** Rejects this far apart on average (200 parts/s: 5 ms), with up to half of it as jitter. */
  spacingMs: number;
  /** gate.spin_ms, gate.rt_priority, gate.threads (the daemon's defaults: 8, 50, 2). */
  spinMs: number;
  rtPriority: number;
  threads: number;
  pulseMs?: number;
}

export interface GateError {
  /** Activation minus due time, ms, one per reject. */
  errorMs: number[];
  realtime: boolean | null;
  threads: number;
}

const AHEAD_MS = 150;

/**
 * Rejects requested ahead of time (a verdict known before the part reaches the gate, the normal case), spaced so
 * that pulses never merge: the only source of error is scheduling. The gate threads time the edges while
 * startLoad() loads the event loop.
 */
export async function measureGateError(options: GateErrorOptions): Promise<GateError> {
  const clock = systemClock();
  const { output, activations, stop } = await simGate();
  const thread = new GateThread({ output, logger: pino({ level: 'silent' }), ...options });
  await thread.start(new AbortController().signal);
  const gate = new GateController({
    output,
    clock,
    scheduler: new TimeoutScheduler({ clock }),
    timed: thread,
    coarse: new TimeoutScheduler({ clock }),
    pulseMs: options.pulseMs ?? 1,
    minGapMs: 0,
    merge: false,
    energisedPosition: 'reject',
    onFired: () => undefined,
    onWriteError: (err) => {
      throw err;
    },
  });
  gate.safe();
  gate.arm();
  const stopLoad = startLoad();
  const requested = await requestRejects(gate, options, () => clock.now());
  stopLoad();
  gate.disarm();
  const result = { realtime: thread.realtime, threads: thread.threadCount };
  await thread.stop();
  const switched = activations();
  await stop();
  if (switched.length !== options.events)
    throw new Error(`gate error: ${switched.length} activations for ${options.events} rejects`);
  return { errorMs: switched.map((t, i) => t - (requested[i] ?? Number.NaN)), ...result };
}

/** Requests go in from a timer, like verdicts arriving; due times on a fixed grid with jitter. */
function requestRejects(gate: GateController, options: GateErrorOptions, now: () => number): Promise<number[]> {
  const requested: number[] = [];
  const { events, spacingMs } = options;
  return new Promise<number[]>((resolve) => {
    let n = 0;
    const t0 = now() + AHEAD_MS;
    const submit = (): void => {
      while (n < events && t0 + n * spacingMs <= now() + AHEAD_MS) {
        const dueMs = t0 + n * spacingMs + Math.random() * (spacingMs / 2);
        requested.push(dueMs);
        gate.request(n, dueMs);
        n++;
      }
      if (n < events) setTimeout(submit, 5);
      else setTimeout(() => resolve(requested), AHEAD_MS + 50);
    };
    submit();
  });
}

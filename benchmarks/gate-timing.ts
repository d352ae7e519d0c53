/**
 * Gate timing: how late does the reject gate go active relative to its due time, under event-loop load?
 *
 *   node --import tsx benchmarks/gate-timing.ts [--events 1000] [--spacing-ms 20] [--floor-s 5] [--inference]
 *     [--variants baseline,hold8,threadnormal,thread1,thread2ms,thread,threadall]
 *   (variants: baseline, yield, hold3, hold6, hold8 (gate.timer: loop); threadnormal, thread1, thread2ms, thread (gate.timer:
 *   thread, at most the CPUs minus one as the daemon starts them), threadall (2 threads even on a 2-CPU box: no CPU left))
 *
 * --inference: meanwhile, the shipped model inspects dataset images one at a time in its worker (WorkerInspector,
 * as the daemon runs it), and each row also gives the inspection round trip: what spinning gate threads cost
 * inference.
 *
 * Drives the real GateController (the same code the line uses) with the sim GPIO driver's gate output, whose write
 * log records when it switched: the event loop stamps its own writes; with the gate thread, the thread stamps the
 * switch of the shared wire. The thread variants use the real GateThread, asking for SCHED_FIFO like the daemon (granted to
 * root or under LimitRTPRIO; the row says when it was refused). Rejects are requested ahead of time (a verdict
 * known before the part reaches the gate, the normal case) and spaced so that pulses never merge or wait for
 * min_gap: the only source of lateness is scheduling. Load on the event loop while it runs:
 *   - "logging/MQTT" work: every ~1 ms a task that JSON-serialises a verdict-sized payload a few times and
 *     copies it into a Buffer (what pino + an MQTT publish do per part, exaggerated);
 *   - blocking chunks: every 20-50 ms a synchronous 2-5 ms busy section (a sync fs call, a big JSON parse,
 *     a GC pause).
 * First it measures the machine's floor (how long a lone real-time thread is kept off the CPU), then each timer
 * runs in turn with the same load, and the figures are printed as one table.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { inferenceSection } from '../src/config/sections/inference.js';
import { WorkerInspector } from '../src/inference/worker-inspector.js';
import { GateThread } from '../src/io/gpio/gate-thread.js';
import { simGate, startLoad } from '../src/bench/gate-load.js';
import { type Clock, systemClock } from '../src/pipeline/clock.js';
import { GateController } from '../src/pipeline/gate-controller.js';
import { PreciseScheduler, type Scheduler, TimeoutScheduler } from '../src/pipeline/scheduler.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000' },
    'spacing-ms': { type: 'string', default: '20' },
    'floor-s': { type: 'string', default: '5' },
    variants: { type: 'string', default: 'baseline,hold8,threadnormal,thread1,thread2ms,thread,threadall' },
    inference: { type: 'boolean', default: false },
  },
});
const ROOT = path.resolve(import.meta.dirname, '..');
const EVENTS = Number(values.events);
const SPACING_MS = Number(values['spacing-ms']);
const FLOOR_S = Number(values['floor-s']);
const PULSE_MS = 1;
const AHEAD_MS = 150;

/** Sleeps to ~2 ms before due, then yields with setImmediate until due: precise only when nothing blocks. */
class YieldingScheduler implements Scheduler {
  constructor(private readonly clock: Clock) {}

  at(dueMs: number, fn: (nowMs: number) => void): () => void {
    let cancelled = false;
    let handle: ReturnType<typeof setTimeout> | undefined;
    const spin = (): void => {
      if (cancelled) return;
      const nowMs = this.clock.now();
      if (nowMs >= dueMs) fn(nowMs);
      else setImmediate(spin);
    };
    const waitMs = dueMs - this.clock.now() - 2;
    if (waitMs > 0) handle = setTimeout(spin, waitMs);
    else setImmediate(spin);
    return () => {
      cancelled = true;
      if (handle !== undefined) clearTimeout(handle);
    };
  }
}

interface Result {
  name: string;
  lateness: number[];
  holdMsPerReject: number;
  /** Inspection round trips (ms) while this variant ran, with --inference. */
  inspectMs: number[];
}

interface ThreadOptions {
  spinMs: number;
  rtPriority: number;
  threads: number;
  /** CPUs left free (GateThreadDeps.leaveCpus); default the daemon's, 1. */
  leaveCpus?: number;
}

/** With --inference: the shipped model in its worker, and 200 dataset images to inspect round and round. */
async function startInspector(): Promise<{ inspector: WorkerInspector; images: Buffer[] } | undefined> {
  if (!values.inference) return undefined;
  const dataset = path.resolve(ROOT, '..', 'shared', 'casting', 'train');
  const images = ['def_front', 'ok_front'].flatMap((cls) =>
    readdirSync(path.join(dataset, cls))
      .sort()
      .slice(0, 100)
      .map((f) => readFileSync(path.join(dataset, cls, f))),
  );
  const inference = inferenceSection.parse({ execution_providers: ['cpu'], intra_op_threads: 1 });
  const inspector = new WorkerInspector({ bundleDir: path.join(ROOT, 'models', 'casting-cnn'), inference });
  await inspector.start(new AbortController().signal);
  for (const image of images.slice(0, 20)) await inspector.inspect(image);
  return { inspector, images };
}

/** Inspects one image after another until stopped; the round trip of each, ms. */
function inspectLoop(model: { inspector: WorkerInspector; images: Buffer[] } | undefined): () => Promise<number[]> {
  const roundTripsMs: number[] = [];
  let stopped = false;
  const looping = (async () => {
    for (let i = 0; model !== undefined && !stopped; i++) {
      const started = performance.now();
      await model.inspector.inspect(model.images[i % model.images.length] ?? Buffer.alloc(0));
      roundTripsMs.push(performance.now() - started);
    }
  })();
  return async () => {
    stopped = true;
    await looping;
    return roundTripsMs;
  };
}

async function run(
  name: string,
  scheduler: Scheduler,
  clock: Clock,
  holdMsPerReject: number,
  threadOptions: ThreadOptions | undefined,
  model: { inspector: WorkerInspector; images: Buffer[] } | undefined,
): Promise<Result> {
  const { output, activations, stop } = await simGate();
  const requested: number[] = [];
  const thread =
    threadOptions === undefined
      ? undefined
      : new GateThread({ output, logger: pino({ level: 'silent' }), ...threadOptions });
  await thread?.start(new AbortController().signal);
  if (thread && threadOptions && threadOptions.rtPriority > 0 && thread.realtime !== true) {
    name += ' (SCHED_FIFO refused: ran at normal priority)';
  }
  if (thread && threadOptions && thread.threadCount < threadOptions.threads)
    name += ` (capped at ${thread.threadCount}: one CPU left free)`;
  const gate = new GateController({
    output,
    clock,
    scheduler,
    ...(thread ? { timed: thread } : {}),
    coarse: new TimeoutScheduler({ clock }),
    pulseMs: PULSE_MS,
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
  const stopInspecting = inspectLoop(model);
  await new Promise<void>((resolve) => {
    let n = 0;
    const t0 = clock.now() + AHEAD_MS;
    // Requests go in from a timer, like verdicts arriving; due times are spaced, with jitter, on a fixed grid.
    const submit = (): void => {
      const nowMs = clock.now();
      while (n < EVENTS && t0 + n * SPACING_MS <= nowMs + AHEAD_MS) {
        const dueMs = t0 + n * SPACING_MS + Math.random() * (SPACING_MS / 2);
        requested.push(dueMs);
        gate.request(n, dueMs);
        n++;
      }
      if (n < EVENTS) setTimeout(submit, 5);
      else setTimeout(resolve, AHEAD_MS + 50);
    };
    submit();
  });
  stopLoad();
  const inspectMs = await stopInspecting();
  gate.disarm();
  await thread?.stop();
  const switched = activations();
  await stop();
  const lateness = switched.map((t, i) => t - (requested[i] ?? Number.NaN));
  if (lateness.length !== EVENTS) throw new Error(`${name}: ${lateness.length} activations for ${EVENTS} rejects`);
  return { name, lateness, holdMsPerReject, inspectMs };
}

/**
 * The machine's own floor: a lone thread (SCHED_FIFO 50 where allowed) spins on the clock in 300 ms stretches and
 * counts the gaps in which it did not run at all. No scheduler in any process can be more punctual than this.
 */
async function machineStalls(seconds: number): Promise<string> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { execFileSync } = require('node:child_process');
    const { readlinkSync } = require('node:fs');
    let rt = 'normal priority';
    try { execFileSync('chrt', ['--fifo', '--pid', '50', readlinkSync('/proc/thread-self').split('/').pop()], { stdio: 'ignore' }); rt = 'SCHED_FIFO 50'; } catch {}
    const gaps = [];
    const sab = new Int32Array(new SharedArrayBuffer(4));
    for (let k = 0; k < workerData * 10 / 4; k++) {
      const end = performance.now() + 300; let prev = performance.now();
      while (prev < end) { const now = performance.now(); if (now - prev > 1) gaps.push(now - prev); prev = now; }
      Atomics.wait(sab, 0, 0, 100);
    }
    parentPort.postMessage({ rt, gaps });`;
  const worker = new Worker(code, { eval: true, workerData: seconds });
  const { rt, gaps } = await new Promise<{ rt: string; gaps: number[] }>((resolve) => worker.once('message', resolve));
  await worker.terminate();
  const spunS = (Math.floor((seconds * 10) / 4) * 0.3).toFixed(1);
  return `machine floor: a lone spinning thread (${rt}, nothing else running) did not run for > 1 ms ${gaps.length} times in ${spunS} s (max ${Math.max(0, ...gaps).toFixed(2)} ms)`;
}

function inspectCell(roundTripsMs: number[]): string {
  if (roundTripsMs.length === 0) return '-';
  const s = [...roundTripsMs].sort((a, b) => a - b);
  return `${pct(s, 50).toFixed(2)}/${pct(s, 99).toFixed(2)} (${s.length})`;
}

function pct(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

async function main(): Promise<void> {
  const clock = systemClock();
  const all: Record<string, [string, Scheduler, number, ThreadOptions?]> = {
    baseline: ['baseline setTimeout', new TimeoutScheduler({ clock }), 0],
    yield: ['setTimeout + setImmediate yield', new YieldingScheduler(clock), 0],
    hold3: ['precise hold_ms=3', new PreciseScheduler({ clock, holdMs: 3 }), 4],
    hold6: ['precise hold_ms=6', new PreciseScheduler({ clock, holdMs: 6 }), 7],
    hold8: ['loop, precise hold_ms=8', new PreciseScheduler({ clock, holdMs: 8 }), 9],
    threadnormal: [
      '1 gate thread, normal priority',
      new TimeoutScheduler({ clock }),
      0,
      { spinMs: 8, rtPriority: 0, threads: 1 },
    ],
    thread1: [
      '1 gate thread, SCHED_FIFO 50',
      new TimeoutScheduler({ clock }),
      0,
      { spinMs: 8, rtPriority: 50, threads: 1 },
    ],
    thread2ms: [
      '2 gate threads, SCHED_FIFO 50, spin_ms=2',
      new TimeoutScheduler({ clock }),
      0,
      { spinMs: 2, rtPriority: 50, threads: 2 },
    ],
    thread: [
      '2 gate threads, SCHED_FIFO 50, spin_ms=8 (default)',
      new TimeoutScheduler({ clock }),
      0,
      { spinMs: 8, rtPriority: 50, threads: 2 },
    ],
    threadall: [
      '2 gate threads on every CPU, SCHED_FIFO 50, spin_ms=8',
      new TimeoutScheduler({ clock }),
      0,
      { spinMs: 8, rtPriority: 50, threads: 2, leaveCpus: 0 },
    ],
  };
  const variants = values.variants.split(',').map((key) => {
    const variant = all[key.trim()];
    if (variant === undefined) throw new Error(`--variants: unknown '${key}' (valid: ${Object.keys(all).join(', ')})`);
    return variant;
  });
  console.log(
    `gate-timing: ${EVENTS} rejects per scheduler, ~${SPACING_MS} ms apart, load = JSON/Buffer work every 1 ms + 2-5 ms blocking every 20-50 ms`,
  );
  const load = loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');
  console.log(
    `node ${process.version}, ${process.platform}/${process.arch}, load average ${load} (other processes compete for the CPU)`,
  );
  if (FLOOR_S > 0) console.log(await machineStalls(FLOOR_S));
  const model = await startInspector();
  const results: Result[] = [];
  for (const [name, scheduler, hold, spin] of variants)
    results.push(await run(name, scheduler, clock, hold, spin, model));
  await model?.inspector.stop();
  const header = [
    'scheduler',
    'p50',
    'p99',
    'p99.9',
    'max',
    'min',
    '>1ms late',
    'loop held/reject',
    'inspect p50/p99 ms (n)',
  ];
  const rows = results.map((r) => {
    const s = [...r.lateness].sort((a, b) => a - b);
    const late = s.filter((v) => v > 1).length;
    return [
      r.name,
      pct(s, 50).toFixed(3),
      pct(s, 99).toFixed(3),
      pct(s, 99.9).toFixed(3),
      (s[s.length - 1] ?? Number.NaN).toFixed(3),
      (s[0] ?? Number.NaN).toFixed(3),
      `${late} (${((late / s.length) * 100).toFixed(2)}%)`,
      r.holdMsPerReject === 0 ? '0' : `<= ${r.holdMsPerReject} ms`,
      inspectCell(r.inspectMs),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  console.log('lateness of gate activation vs due time, ms (negative = early)');
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

await main();

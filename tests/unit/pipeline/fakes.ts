import { vi } from 'vitest';
import type { CapturedImage } from '../../../src/domain/ports.js';
import type { Label } from '../../../src/domain/part.js';
import {
  alarmsSection,
  confirmSection,
  gateSection,
  heartbeatSection,
  pipelineSection,
  trackingSection,
  triggerSection,
} from '../../../src/config/sections/line.js';
import { LinesideError, type ErrorCode } from '../../../src/errors.js';
import type { Inspection } from '../../../src/domain/ports.js';
import type {
  DigitalOutput,
  Edge,
  EdgeEvent,
  EdgeInput,
  PlannedSwitch,
  SwitchResult,
  TimedSwitch,
} from '../../../src/domain/ports.js';
import {
  InspectionLine,
  type InspectionLineConfig,
  type InspectionLineDeps,
} from '../../../src/pipeline/inspection-line.js';
import type { AlarmRecord } from '../../../src/pipeline/alarms.js';
import type { PartRecord } from '../../../src/domain/part.js';

export class FakeInput implements EdgeInput {
  level = false;
  private readonly listeners = new Set<(ev: EdgeEvent) => void>();

  constructor(readonly name: string) {}

  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  onEdge(listener: (event: EdgeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  read(): boolean {
    return this.level;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** An edge now (fake performance.now()) unless a time is given. */
  fire(edge: Edge = 'rising', timeMs = performance.now()): void {
    this.level = edge === 'rising';
    for (const l of [...this.listeners]) l({ edge, timeMs });
  }
}

export class FakeOutput implements DigitalOutput {
  active = false;
  readonly writes: { level: boolean; timeMs: number }[] = [];
  failWrites = false;

  constructor(readonly name: string) {}

  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  write(active: boolean): void {
    if (this.failWrites) throw new LinesideError('LS_GPIO_WRITE', `${this.name}: write failed`);
    this.active = active;
    this.writes.push({ level: active, timeMs: performance.now() });
  }

  forceSafe(): void {
    this.write(false);
  }

  /** [start, end) of each active period (end undefined while still active). */
  pulses(): { startMs: number; endMs: number | undefined }[] {
    const out: { startMs: number; endMs: number | undefined }[] = [];
    let prev = false;
    for (const w of this.writes) {
      if (w.level && !prev) out.push({ startMs: w.timeMs, endMs: undefined });
      if (!w.level && prev) {
        const last = out[out.length - 1];
        if (last !== undefined) last.endMs = w.timeMs;
      }
      prev = w.level;
    }
    return out;
  }
}

/**
 * A gate thread on fake timers: switches `output` exactly at the due time (plus switchLateMs), and reports it on
 * the event loop reportDelayMs later, like the real thread's message. die() fails it like a crashed worker.
 */
export class FakeTimedSwitch implements TimedSwitch {
  usable = true;
  switchLateMs = 0;
  reportDelayMs = 2;
  failWrites = false;
  plans = 0;
  private current:
    { onSwitched: (result: SwitchResult | null) => void; settled: boolean; result?: SwitchResult } | undefined;

  constructor(private readonly output: FakeOutput) {}

  plan(active: boolean, dueMs: number, onSwitched: (result: SwitchResult | null) => void): PlannedSwitch {
    this.plans++;
    const entry: NonNullable<FakeTimedSwitch['current']> = { onSwitched, settled: false };
    this.current = entry;
    const switchTimer = setTimeout(
      () => {
        const timeMs = performance.now();
        if (this.failWrites) entry.result = { error: new LinesideError('LS_GPIO_WRITE', 'gate thread write failed') };
        else {
          this.output.active = active;
          this.output.writes.push({ level: active, timeMs });
          entry.result = { timeMs };
        }
        setTimeout(() => {
          if (entry.settled || entry.result === undefined) return;
          entry.settled = true;
          onSwitched(entry.result);
        }, this.reportDelayMs);
      },
      dueMs + this.switchLateMs - performance.now(),
    );
    return {
      cancel: () => {
        if (entry.settled) return null;
        entry.settled = true;
        clearTimeout(switchTimer);
        return entry.result ?? null;
      },
    };
  }

  die(): void {
    this.usable = false;
    const entry = this.current;
    if (entry === undefined || entry.settled) return;
    entry.settled = true;
    entry.onSwitched(entry.result ?? null);
  }
}

/** What the fake camera and model do for the n-th part (0-based, in trigger order). */
export interface PartScript {
  label?: Label;
  captureMs?: number;
  /** Never settles (the line's deadline must catch it). */
  captureHangs?: boolean;
  captureError?: ErrorCode | 'plain';
  inspectMs?: number;
  inspectHangs?: boolean;
  inspectError?: ErrorCode;
  verdict?: 'ok' | 'defective';
}

export interface LineConfigOverrides {
  trigger?: Record<string, unknown>;
  gate?: Record<string, unknown>;
  tracking?: Record<string, unknown>;
  confirm?: Record<string, unknown>;
  alarms?: Record<string, unknown>;
  heartbeat?: Record<string, unknown>;
  pipeline?: Record<string, unknown>;
}

/** Parsed through the real schema sections, so defaults are the shipped ones. hold_ms 0: fake timers. */
export function lineConfig(o: LineConfigOverrides = {}): InspectionLineConfig {
  return {
    trigger: triggerSection.parse({ line: 1, min_spacing_ms: 10, ...o.trigger }),
    gate: gateSection.parse({ line: 2, hold_ms: 0, ...o.gate }),
    tracking: trackingSection.parse(o.tracking ?? { mode: 'time', distance_mm: 500, belt_speed_mm_s: 1000 }),
    ...(o.confirm === undefined ? {} : { confirm: confirmSection.parse({ line: 3, ...o.confirm }) }),
    alarms: alarmsSection.parse({ consecutive_rejects: 0, ...o.alarms }),
    ...(o.heartbeat === undefined ? {} : { heartbeat: heartbeatSection.parse({ line: 4, ...o.heartbeat }) }),
    pipeline: pipelineSection.parse({ ...o.pipeline }),
  };
}

export interface Rig {
  line: InspectionLine;
  trigger: FakeInput;
  encoder: FakeInput;
  confirm: FakeInput;
  binFull: FakeInput;
  gate: FakeOutput;
  alarmOut: FakeOutput;
  heartbeat: FakeOutput;
  records: PartRecord[];
  alarms: AlarmRecord[];
  acks: AlarmRecord[][];
  captureSignals: AbortSignal[];
  inspectSignals: AbortSignal[];
  healthy: { value: boolean };
  ready: { value: boolean };
  /** The gate thread, with withGateThread. */
  timed: FakeTimedSwitch | undefined;
}

export interface RigOptions extends LineConfigOverrides {
  script?: (index: number) => PartScript;
  withConfirm?: boolean;
  withBinFull?: boolean;
  withAlarmOutput?: boolean;
  /** Reject edges switched by a (fake) gate thread, as with gate.timer: thread. */
  withGateThread?: boolean;
  captureTimeoutMs?: number;
  inspectTimeoutMs?: number;
  deps?: Partial<InspectionLineDeps>;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A line with fake ports. Default script: every part ok, capture 20 ms, inspect 30 ms. */
export function makeRig(opts: RigOptions = {}): Rig {
  const script = opts.script ?? ((): PartScript => ({}));
  const trigger = new FakeInput('trigger');
  const encoder = new FakeInput('encoder');
  const confirm = new FakeInput('confirm');
  const binFull = new FakeInput('bin_full');
  const gate = new FakeOutput('gate');
  const alarmOut = new FakeOutput('alarm');
  const heartbeat = new FakeOutput('heartbeat');
  const timed = opts.withGateThread ? new FakeTimedSwitch(gate) : undefined;
  const captureSignals: AbortSignal[] = [];
  const inspectSignals: AbortSignal[] = [];
  const healthy = { value: true };
  const ready = { value: true };
  let captures = 0;
  const config = lineConfig(opts);
  const withConfirm = opts.withConfirm ?? opts.confirm !== undefined;
  const deps: InspectionLineDeps = {
    runId: 'run1',
    config,
    captureTimeoutMs: opts.captureTimeoutMs ?? 200,
    inspectTimeoutMs: opts.inspectTimeoutMs ?? 300,
    capture: async (signal): Promise<CapturedImage> => {
      const index = captures++;
      captureSignals.push(signal);
      const s = script(index);
      if (s.captureHangs) return new Promise<CapturedImage>(() => undefined);
      await delay(s.captureMs ?? 20);
      if (s.captureError === 'plain') throw new Error('usb gone');
      if (s.captureError !== undefined) throw new LinesideError(s.captureError, 'camera failed');
      return {
        data: Buffer.from(String(index)),
        source: `part-${index}.jpg`,
        ...(s.label === undefined ? {} : { label: s.label }),
      };
    },
    inspect: async (image, signal): Promise<Inspection> => {
      inspectSignals.push(signal);
      const s = script(Number(image.data.toString()));
      if (s.inspectHangs) return new Promise<Inspection>(() => undefined);
      await delay(s.inspectMs ?? 30);
      if (s.inspectError !== undefined) throw new LinesideError(s.inspectError, 'inspect failed');
      const verdict = s.verdict ?? 'ok';
      return {
        verdict,
        defectScore: verdict === 'defective' ? 0.9 : 0.1,
        threshold: 0.5,
        preprocessMs: 2,
        inferenceMs: 10,
      };
    },
    modelReady: () => ready.value,
    modelInfo: () => ({ version: '1.2.3', executionProvider: 'cpu' }),
    trigger,
    gate,
    ...(config.tracking.mode === 'encoder' ? { encoder } : {}),
    ...(withConfirm ? { confirm } : {}),
    ...(opts.withBinFull ? { binFull } : {}),
    ...(opts.withAlarmOutput ? { alarmOutput: alarmOut } : {}),
    ...(config.heartbeat === undefined ? {} : { heartbeat }),
    health: () => healthy.value,
    ...(timed === undefined ? {} : { gateTimer: timed }),
    ...opts.deps,
  };
  const line = new InspectionLine(deps);
  const records: PartRecord[] = [];
  const alarms: AlarmRecord[] = [];
  const acks: AlarmRecord[][] = [];
  line.on('part', (r) => records.push(r));
  line.on('alarm', (a) => alarms.push(a));
  line.on('alarm_acknowledged', (a) => acks.push([...a]));
  return {
    line,
    trigger,
    encoder,
    confirm,
    binFull,
    gate,
    alarmOut,
    heartbeat,
    records,
    alarms,
    acks,
    captureSignals,
    inspectSignals,
    healthy,
    ready,
    timed,
  };
}

/** Advance fake time (and flush promise chains in between). */
export async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

import type { DigitalOutput, EdgeInput } from '../domain/ports.js';
import { ALARM_KINDS, type AlarmKind, type AlarmRecord } from '../domain/alarm.js';
import type { Clock } from './clock.js';

export { ALARM_KINDS, type AlarmKind, type AlarmRecord };

export interface AlarmManagerDeps {
  runId: string;
  clock: Clock;
  /** Stack light / line stop: active while any alarm is unacknowledged. */
  output?: DigitalOutput;
  onRaised: (alarm: AlarmRecord) => void;
  onAcknowledged: (alarms: readonly AlarmRecord[]) => void;
  onOutputError: (err: unknown) => void;
}

/**
 * Alarm state. One unacknowledged alarm per kind: a repeat bumps `repeats` instead of flooding SCADA.
 * Alarms stay until acknowledged, even when the condition clears, so a short event is not missed.
 */
export class AlarmManager {
  /** holdSafe() was called: the output stays inactive. */
  private held = false;
  private seq = 0;
  private readonly open = new Map<AlarmKind, AlarmRecord>();
  private readonly raisedByKind = Object.fromEntries(ALARM_KINDS.map((k) => [k, 0])) as Record<AlarmKind, number>;

  constructor(private readonly deps: AlarmManagerDeps) {}

  raise(kind: AlarmKind, message: string, partId?: string): AlarmRecord {
    const existing = this.open.get(kind);
    if (existing !== undefined) {
      existing.repeats++;
      return existing;
    }
    const { clock } = this.deps;
    this.seq++;
    const alarm: AlarmRecord = {
      id: `${this.deps.runId}-A${this.seq}`,
      kind,
      message,
      raisedMs: clock.now(),
      raisedAt: new Date(clock.wallNow()).toISOString(),
      repeats: 0,
      acknowledged: false,
      ...(partId === undefined ? {} : { partId }),
    };
    this.open.set(kind, alarm);
    this.raisedByKind[kind]++;
    this.driveOutput();
    this.deps.onRaised(alarm);
    return alarm;
  }

  /** Acknowledge one alarm by id, or every open alarm. Returns the alarms acknowledged (none: unknown id). */
  acknowledge(idOrAll: string): AlarmRecord[] {
    const acked: AlarmRecord[] = [];
    const at = new Date(this.deps.clock.wallNow()).toISOString();
    for (const [kind, alarm] of this.open) {
      if (idOrAll !== 'all' && alarm.id !== idOrAll) continue;
      alarm.acknowledged = true;
      alarm.acknowledgedAt = at;
      this.open.delete(kind);
      acked.push(alarm);
    }
    if (acked.length > 0) {
      this.driveOutput();
      this.deps.onAcknowledged(acked);
    }
    return acked;
  }

  /** Unacknowledged alarms, oldest first (copies). */
  active(): AlarmRecord[] {
    return [...this.open.values()].sort((a, b) => a.raisedMs - b.raisedMs).map((a) => ({ ...a }));
  }

  counts(): { raised: number; active: number; byKind: Record<AlarmKind, number> } {
    return { raised: this.seq, active: this.open.size, byKind: { ...this.raisedByKind } };
  }

  /** Output to its inactive state (boot, shutdown). */
  safe(): void {
    this.held = false;
    this.writeOutput(false, true);
  }

  /**
   * Output to its inactive state for good (an exit that cannot wait for stop): alarms raised after this are still
   * recorded and reported, but no longer drive the output.
   */
  holdSafe(): void {
    this.writeOutput(false, true);
    this.held = true;
  }

  driveOutput(): void {
    this.writeOutput(this.open.size > 0);
  }

  private writeOutput(active: boolean, force = false): void {
    const { output } = this.deps;
    if (output === undefined || this.held || (!force && output.active === active)) return;
    try {
      output.write(active);
    } catch (err) {
      this.deps.onOutputError(err);
    }
  }
}

/** The bin-full switch: bin_full on its rising edge, and at once when the bin is already full. Returns the unsubscribe. */
export function watchBinFull(input: EdgeInput, alarms: AlarmManager): () => void {
  const off = input.onEdge((ev) => {
    if (ev.edge === 'rising') alarms.raise('bin_full', `reject bin full (${input.name})`);
  });
  if (input.read()) alarms.raise('bin_full', `reject bin full at start (${input.name})`);
  return off;
}

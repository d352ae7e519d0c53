import { ALARM_KINDS } from '../../../domain/alarm.js';
import { FAILSAFE_REASONS, type PartRecord } from '../../../domain/part.js';
import type { ModelInfo } from '../../../domain/ports.js';
import type { AlarmEvent } from '../payload.js';
import type { MetricType, StoredMetric } from './codec.js';

/** What the device reports besides parts and alarms; read at each birth and each part. */
export interface StationFacts {
  model(): ModelInfo | undefined;
  /** The daemon's one health verdict (app/health.ts lineHealth); undefined when not known. */
  healthy(): boolean | undefined;
}

/** Parts per minute are counted over this window of decision times. */
export const RATE_WINDOW_MS = 60_000;

/** Counter of the rejects the model decided (no fail-safe reason), beside the fail-safe reasons. */
export const MODEL_REASON = 'model';
export const REASONS: readonly string[] = [MODEL_REASON, ...FAILSAFE_REASONS];

type Value = StoredMetric['value'];

/**
 * The inspection station's metrics (the Sparkplug device): the last verdict, counters by decision and reason, yield,
 * rate, alarms, model and health, counted since the daemon started. `part` and `alarm` update them and return only
 * what changed (report by exception); `birth` returns all of them with their current values.
 */
export class StationMetrics {
  private readonly current = new Map<string, StoredMetric>();
  private readonly decisions = { pass: 0, reject: 0 };
  private readonly reasons = new Map<string, number>(REASONS.map((r) => [r, 0]));
  private readonly recentMs: number[] = [];
  private readonly openAlarms = new Set<string>();
  private parts = 0;

  constructor(private readonly facts: StationFacts) {
    this.declareAll(Date.now());
  }

  /** Every metric with its current value and timestamp (DBIRTH). Model and health are read now. */
  birth(nowMs: number): StoredMetric[] {
    this.modelAndHealth(nowMs);
    return [...this.current.values()].map((m) => ({ ...m }));
  }

  /** Counts one completed part; returns the metrics it changed, timestamped with the part's decision time. */
  part(record: PartRecord, handedAtMs: number): StoredMetric[] {
    const atMs = decisionTimeMs(record, handedAtMs);
    const changed: StoredMetric[] = [
      this.set('Last Part/ID', 'String', record.id, atMs),
      this.set('Last Part/Seq', 'UInt64', record.seq, atMs),
      this.set('Last Part/Decision', 'String', record.decision, atMs),
      this.set('Last Part/Verdict', 'String', record.verdict ?? null, atMs),
      this.set('Last Part/Defect Score', 'Double', record.defectScore ?? null, atMs),
      this.set('Last Part/Reason', 'String', record.failsafeReason ?? null, atMs),
      this.set('Last Part/Error Code', 'String', record.errorCode ?? null, atMs),
      this.set('Last Part/Latency ms', 'Double', record.verdictLatencyMs ?? null, atMs),
    ];
    this.parts += 1;
    this.decisions[record.decision] += 1;
    changed.push(this.set('Counters/Parts', 'UInt64', this.parts, atMs));
    changed.push(this.set(`Counters/Decision/${record.decision}`, 'UInt64', this.decisions[record.decision], atMs));
    const reason = record.failsafeReason ?? (record.decision === 'reject' ? MODEL_REASON : undefined);
    if (reason !== undefined) {
      const count = (this.reasons.get(reason) ?? 0) + 1;
      this.reasons.set(reason, count);
      changed.push(this.set(`Counters/Reason/${reason}`, 'UInt64', count, atMs));
    }
    changed.push(this.set('Yield', 'Double', this.decisions.pass / this.parts, atMs));
    changed.push(this.set('Rate per Minute', 'Double', this.rate(atMs), atMs));
    return [...changed, ...this.modelAndHealth(atMs, true)];
  }

  /** One alarm transition; returns the alarm's metrics and the count of open alarms. */
  alarm(event: AlarmEvent): StoredMetric[] {
    const atMs = (event.at ?? new Date()).getTime();
    const key = event.alarm;
    if (event.state === 'raised') this.openAlarms.add(key);
    else this.openAlarms.delete(key);
    return [
      this.set(`Alarms/${key}/State`, 'String', event.state, atMs),
      this.set(`Alarms/${key}/Message`, 'String', event.message, atMs),
      this.set(`Alarms/${key}/ID`, 'String', event.id ?? null, atMs),
      this.set('Alarms/Active', 'Int32', this.openAlarms.size, atMs),
    ];
  }

  /** Whether the device knows this metric (its DBIRTH declared it). */
  has(name: string): boolean {
    return this.current.has(name);
  }

  private declareAll(nowMs: number): void {
    const declare = (name: string, type: MetricType, value: Value): void => {
      this.set(name, type, value, nowMs);
    };
    for (const [name, type] of LAST_PART) declare(`Last Part/${name}`, type, null);
    declare('Counters/Parts', 'UInt64', 0);
    declare('Counters/Decision/pass', 'UInt64', 0);
    declare('Counters/Decision/reject', 'UInt64', 0);
    for (const reason of REASONS) declare(`Counters/Reason/${reason}`, 'UInt64', 0);
    declare('Yield', 'Double', null);
    declare('Rate per Minute', 'Double', 0);
    declare('Alarms/Active', 'Int32', 0);
    for (const kind of ALARM_KINDS) {
      declare(`Alarms/${kind}/State`, 'String', 'none');
      declare(`Alarms/${kind}/Message`, 'String', null);
      declare(`Alarms/${kind}/ID`, 'String', null);
    }
    this.modelAndHealth(nowMs);
  }

  /** Model and health metrics; with `onlyChanged`, those whose value differs from the last one reported. */
  private modelAndHealth(atMs: number, onlyChanged = false): StoredMetric[] {
    const model = this.facts.model();
    const values: [string, MetricType, Value][] = [
      ['Model/Name', 'String', model?.name ?? null],
      ['Model/Version', 'String', model?.version ?? null],
      ['Model/SHA256', 'String', model?.sha256 ?? null],
      ['Model/Threshold', 'Double', model?.threshold ?? null],
      ['Model/Execution Provider', 'String', model?.executionProvider ?? null],
      ['Health/Healthy', 'Boolean', this.facts.healthy() ?? null],
    ];
    const changed: StoredMetric[] = [];
    for (const [name, type, value] of values) {
      if (onlyChanged && this.current.get(name)?.value === value) continue;
      changed.push(this.set(name, type, value, atMs));
    }
    return changed;
  }

  private rate(atMs: number): number {
    this.recentMs.push(atMs);
    while (this.recentMs.length > 0 && (this.recentMs[0] ?? atMs) <= atMs - RATE_WINDOW_MS) this.recentMs.shift();
    return (this.recentMs.length * 60_000) / RATE_WINDOW_MS;
  }

  private set(name: string, type: MetricType, value: Value, timestamp: number): StoredMetric {
    const metric = { name, type, value, timestamp };
    this.current.set(name, metric);
    return { ...metric };
  }
}

const LAST_PART: readonly [string, MetricType][] = [
  ['ID', 'String'],
  ['Seq', 'UInt64'],
  ['Decision', 'String'],
  ['Verdict', 'String'],
  ['Defect Score', 'Double'],
  ['Reason', 'String'],
  ['Error Code', 'String'],
  ['Latency ms', 'Double'],
];

/**
 * When the part was decided: its trigger's wall-clock time plus the trigger-to-verdict latency; the time it was handed
 * to MQTT when that is not known. A replayed verdict keeps this time.
 */
export function decisionTimeMs(record: PartRecord, handedAtMs: number): number {
  const triggeredMs = Date.parse(record.triggeredAt);
  if (!Number.isFinite(triggeredMs) || record.verdictLatencyMs === undefined) return handedAtMs;
  return Math.round(triggeredMs + record.verdictLatencyMs);
}

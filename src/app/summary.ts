import type { Inspector } from '../domain/ports.js';
import type { MqttState } from '../io/mqtt/index.js';
import type { LineSummary } from '../pipeline/inspection-line.js';

type Percentiles = { p50: number | null; p99: number | null; max: number | null };

/** The run summary printed as the last stdout line at exit. snake_case: it is read by scripts, like MQTT payloads. */
export interface RunSummary {
  run_id: string;
  parts: number;
  ok: number;
  reject: number;
  failsafe: Record<string, number>;
  gate_pulses: number;
  /** Gate activations later than gate.max_lateness_ms (the part may already have passed). */
  gate_late: number;
  /** Rejects whose gate did not (provably) move: the opening write failed or the gate output was lost. */
  gate_not_fired: number;
  labelled: number;
  escapes: number;
  false_rejects: number;
  latency_ms: Percentiles;
  gate_lateness_ms: Percentiles;
  triggers: LineSummary['triggers'];
  confirm: LineSummary['confirm'];
  alarms: { raised: number; active: number };
  safe_state: LineSummary['safeState'];
  model: { version: string; execution_provider: string } | null;
  mqtt: {
    connected: boolean;
    sent: number;
    queued: number;
    dropped: number;
    rejected: number;
    lost_at_stop: number;
    /** Why the outbox cannot store messages (verdicts then wait in memory); null while it can. */
    storage_error: string | null;
  } | null;
}

/** What the summary is made of; each part is absent when the daemon stopped before it started. */
export interface SummarySources {
  runId: string;
  line: LineSummary | undefined;
  mqtt: MqttState | undefined;
  inspector: Inspector | undefined;
}

/** Percentiles to 0.01 ms: finer digits are noise, and they make the summary hard to read. */
function rounded(p: Percentiles | undefined): Percentiles {
  const r = (v: number | null | undefined): number | null =>
    v === null || v === undefined ? null : Math.round(v * 100) / 100;
  return { p50: r(p?.p50), p99: r(p?.p99), max: r(p?.max) };
}

/** The model as far as it is known: `info` throws while the model is not loaded (a start that failed there). */
function modelOf(inspector: Inspector | undefined): RunSummary['model'] {
  try {
    return inspector ? { version: inspector.info.version, execution_provider: inspector.info.executionProvider } : null;
  } catch {
    return null;
  }
}

function mqttOf(m: MqttState): NonNullable<RunSummary['mqtt']> {
  const { connected, sent, queued, dropped, rejected } = m;
  return { connected, sent, queued, dropped, rejected, lost_at_stop: m.lostAtStop, storage_error: m.storageError };
}

export function runSummary({ runId, line: s, mqtt: m, inspector }: SummarySources): RunSummary {
  return {
    run_id: runId,
    parts: s?.parts ?? 0,
    ok: s?.ok ?? 0,
    reject: s?.reject ?? 0,
    failsafe: s?.failsafe ?? {},
    gate_pulses: s?.gatePulses ?? 0,
    gate_late: s?.gateLate ?? 0,
    gate_not_fired: s?.gateNotFired ?? 0,
    labelled: s?.labelled ?? 0,
    escapes: s?.escapes ?? 0,
    false_rejects: s?.falseRejects ?? 0,
    latency_ms: rounded(s?.latencyMs),
    gate_lateness_ms: rounded(s?.gateLatenessMs),
    triggers: s?.triggers ?? { accepted: 0, double: 0, missed: 0, overlapping: 0 },
    confirm: s?.confirm ?? { confirmed: 0, unconfirmed: 0, unexpected: 0 },
    alarms: { raised: s?.alarms.raised ?? 0, active: s?.alarms.active ?? 0 },
    safe_state: s?.safeState ?? { parts: 0, rejectsNotFired: 0, ids: [] },
    model: modelOf(inspector),
    mqtt: m ? mqttOf(m) : null,
  };
}

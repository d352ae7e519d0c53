import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../../errors.js';
import type { AlarmRecord } from '../../domain/alarm.js';
import { FAILSAFE_REASONS, type PartRecord } from '../../domain/part.js';

/**
 * MQTT payloads: one zod schema per message, so docs/mqtt.md, the builders and SCADA-side tests read the
 * same definition. Fields are snake_case; absent facts are null (never missing), so every message of a
 * kind has the same keys.
 */

/** Bumped when a field changes meaning or disappears; new fields do not bump it. */
export const PAYLOAD_SCHEMA_VERSION = 1;

export interface Topics {
  prefix: string;
  verdict: string;
  alarm: string;
  /** Retained current state of one alarm: `<prefix>/alarm/state/<alarm>`. */
  alarmState: (alarm: string) => string;
  status: string;
  /** Retained snapshot of the line (counters, yield, health, model), latest value only. */
  state: string;
  cmdAck: string;
}

export function topicsFor(prefix: string): Topics {
  const clean = prefix.replace(/\/+$/, '');
  return {
    prefix: clean,
    verdict: `${clean}/verdict`,
    alarm: `${clean}/alarm`,
    alarmState: (alarm) => `${clean}/alarm/state/${alarm}`,
    status: `${clean}/status`,
    state: `${clean}/state`,
    cmdAck: `${clean}/cmd/ack`,
  };
}

const errorCodes = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];
const failsafeReasons = FAILSAFE_REASONS as unknown as [string, ...string[]];

export const verdictPayloadSchema = z.strictObject({
  schema: z.literal(PAYLOAD_SCHEMA_VERSION),
  id: z.string().describe('Globally unique part id `<run_id>-<seq>`; deduplicate on it (delivery is at least once).'),
  seq: z.number().int().positive().describe('Part number within the run: 1, 2, 3, ... without gaps.'),
  run_id: z.string().describe('Changes at every daemon start; seq restarts at 1.'),
  line_id: z.string(),
  triggered_at: z.string().describe('Wall-clock ISO 8601 time of the photo-eye trigger.'),
  decided_at: z.string().describe('Wall-clock ISO 8601 time the part record was completed and handed to MQTT.'),
  decision: z.enum(['pass', 'reject']).describe('What the gate did (or was told to do) with the part.'),
  verdict: z.enum(['ok', 'defective']).nullable().describe('Model verdict; null when there was none (fail-safe).'),
  defect_score: z.number().nullable(),
  threshold: z.number().nullable(),
  model_version: z.string().nullable().describe('Also in model.version; kept for consumers of schema 1.'),
  execution_provider: z.string().nullable(),
  model: z
    .strictObject({
      name: z.string().nullable(),
      version: z.string(),
      sha256: z.string().nullable().describe('sha256 of the ONNX file, verified at start: exactly which model judged.'),
    })
    .nullable()
    .describe('The model loaded when the part was triggered; null when none was.'),
  stages_ms: z.strictObject({
    capture: z.number().nullable(),
    queue: z.number().nullable().describe('Waiting in the inference worker behind other images.'),
    preprocess: z.number().nullable(),
    inference: z.number().nullable(),
    transfer: z
      .number()
      .nullable()
      .describe(
        "Messages to and from the inference worker thread, and their waits (round trip minus the worker's own work).",
      ),
  }),
  verdict_latency_ms: z.number().nullable().describe('Trigger to verdict (or to the fail-safe decision).'),
  failsafe_reason: z
    .enum(failsafeReasons)
    .nullable()
    .describe('Why the part was rejected without (or despite) a verdict.'),
  error_code: z.enum(errorCodes).nullable(),
  error_message: z.string().nullable(),
  label: z
    .enum(['ok', 'defective'])
    .nullable()
    .describe('Ground truth when the source knows it (simulator, folder camera).'),
  source: z.string().nullable(),
  image: z
    .string()
    .nullable()
    .describe('Reference of the archived image of this part in the line record; null when it was not kept.'),
  tracking: z.strictObject({
    mode: z.enum(['time', 'encoder']),
    due_ms: z.number().nullable().describe('Time mode: monotonic ms at which the part was due at the gate.'),
    due_count: z.number().nullable().describe('Encoder mode: encoder count at which the part was due at the gate.'),
    fired: z.boolean().describe('The gate was driven for this part.'),
    fired_ms: z.number().nullable().describe('Monotonic ms at which the gate went active for this part (due_ms base).'),
    fired_at: z
      .string()
      .nullable()
      .describe(
        'Wall-clock ISO 8601 time the gate went active: triggered_at plus the monotonic time from trigger to gate.',
      ),
    confirmed: z
      .boolean()
      .nullable()
      .describe('Reject-confirm sensor result; null without a sensor or for a passed part.'),
    outcome: z
      .enum(['fired', 'fired_late', 'passed', 'held_reject', 'safe_state', 'not_fired'])
      .nullable()
      .describe(
        'What happened at the gate: fired, fired_late (after gate.max_lateness_ms: the part may have passed), passed, held_reject (gate held in reject: encoder stalled), safe_state (daemon stopped before the part reached the gate), not_fired (the write that should have opened the gate failed: the part may have passed).',
      ),
  }),
});

export type VerdictPayload = z.infer<typeof verdictPayloadSchema>;

export function buildVerdictPayload(record: PartRecord, lineId: string, decidedAt: Date): VerdictPayload {
  return {
    schema: PAYLOAD_SCHEMA_VERSION,
    id: record.id,
    seq: record.seq,
    run_id: record.runId,
    line_id: lineId,
    triggered_at: record.triggeredAt,
    decided_at: decidedAt.toISOString(),
    decision: record.decision,
    verdict: record.verdict ?? null,
    defect_score: record.defectScore ?? null,
    threshold: record.threshold ?? null,
    model_version: record.modelVersion ?? null,
    execution_provider: record.executionProvider ?? null,
    model: modelOf(record),
    stages_ms: {
      capture: roundMs(record.stagesMs.capture),
      queue: roundMs(record.stagesMs.queue),
      preprocess: roundMs(record.stagesMs.preprocess),
      inference: roundMs(record.stagesMs.inference),
      transfer: roundMs(record.stagesMs.transfer),
    },
    verdict_latency_ms: roundMs(record.verdictLatencyMs),
    failsafe_reason: record.failsafeReason ?? null,
    error_code: record.errorCode ?? null,
    error_message: record.errorMessage ?? null,
    label: record.label ?? null,
    source: record.source ?? null,
    image: record.imageRef ?? null,
    tracking: {
      mode: record.tracking.mode,
      due_ms: roundMs(record.tracking.dueMs),
      due_count: record.tracking.dueCount ?? null,
      fired: record.tracking.fired,
      fired_ms: roundMs(record.tracking.firedMs),
      fired_at: firedAt(record),
      confirmed: record.tracking.confirmed,
      outcome: record.tracking.outcome ?? null,
    },
  };
}

function modelOf(record: PartRecord): VerdictPayload['model'] {
  if (record.modelVersion === undefined) return null;
  return { name: record.modelName ?? null, version: record.modelVersion, sha256: record.modelSha256 ?? null };
}

/**
 * The gate's wall-clock time, dated like the trigger: triggered_at plus the monotonic interval. A wall-clock step
 * (NTP) between trigger and gate therefore cannot make the gate fire before the trigger in the payload.
 */
function firedAt(record: PartRecord): string | null {
  const { firedMs } = record.tracking;
  const triggeredAtMs = Date.parse(record.triggeredAt);
  if (firedMs === undefined || Number.isNaN(triggeredAtMs)) return null;
  return new Date(triggeredAtMs + (firedMs - record.triggerMs)).toISOString();
}

/** Microsecond resolution is plenty for SCADA and keeps payloads short. */
function roundMs(valueMs: number | undefined): number | null {
  return valueMs === undefined ? null : Math.round(valueMs * 1000) / 1000;
}

export type AlarmState = 'raised' | 'cleared' | 'acknowledged';

/** What the alarm logic hands to MQTT. `alarm` names the alarm kind and becomes a topic level. */
export interface AlarmEvent {
  alarm: string;
  /** This alarm occurrence (unique within the run); an ack command can name it. */
  id?: string;
  state: AlarmState;
  message: string;
  /** Error code behind the alarm; LS_ALARM when omitted. */
  code?: ErrorCode;
  /** Who acknowledged (the command's `by`, else `mqtt`), for state 'acknowledged'. */
  by?: string;
  /** When it happened; now when omitted. */
  at?: Date;
  /** Extra numbers for the operator (e.g. consecutive reject count). snake_case keys. */
  details?: Record<string, string | number | boolean | null>;
}

/**
 * The event for one transition of an alarm of the alarm logic (src/pipeline/alarms.ts), timed by the alarm's own
 * record. Raised: the part that tripped it and the repeats so far; acknowledged: who did it.
 */
export function alarmEvent(alarm: AlarmRecord, state: 'raised' | 'acknowledged', by?: string): AlarmEvent {
  const base = { alarm: alarm.kind, id: alarm.id, state, message: alarm.message };
  if (state === 'raised')
    return {
      ...base,
      at: new Date(alarm.raisedAt),
      details: { part_id: alarm.partId ?? null, repeats: alarm.repeats },
    };
  return {
    ...base,
    ...(alarm.acknowledgedAt === undefined ? {} : { at: new Date(alarm.acknowledgedAt) }),
    ...(by === undefined ? {} : { by }),
  };
}

export const ALARM_NAME_RE = /^[A-Za-z0-9_-]+$/;

export const alarmPayloadSchema = z.strictObject({
  schema: z.literal(PAYLOAD_SCHEMA_VERSION),
  alarm: z.string().regex(ALARM_NAME_RE).describe('Alarm kind; also the last level of the retained state topic.'),
  id: z
    .string()
    .nullable()
    .describe('This occurrence of the alarm; name it in an ack command to acknowledge just this one.'),
  state: z.enum(['raised', 'cleared', 'acknowledged']),
  message: z.string(),
  code: z.enum(errorCodes),
  by: z.string().nullable(),
  at: z.string(),
  run_id: z.string(),
  line_id: z.string(),
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
});

export type AlarmPayload = z.infer<typeof alarmPayloadSchema>;

export function buildAlarmPayload(event: AlarmEvent, ids: { runId: string; lineId: string }): AlarmPayload {
  return {
    schema: PAYLOAD_SCHEMA_VERSION,
    alarm: event.alarm,
    id: event.id ?? null,
    state: event.state,
    message: event.message,
    code: event.code ?? 'LS_ALARM',
    by: event.by ?? null,
    at: (event.at ?? new Date()).toISOString(),
    run_id: ids.runId,
    line_id: ids.lineId,
    details: event.details ?? {},
  };
}

export const statusPayloadSchema = z.strictObject({
  schema: z.literal(PAYLOAD_SCHEMA_VERSION),
  state: z.enum(['online', 'offline']),
  reason: z
    .enum(['connected', 'stopped', 'connection_lost'])
    .describe('connection_lost is the last will, published by the broker.'),
  run_id: z.string(),
  line_id: z.string(),
  at: z.string().describe('When the client sent it; for the last will, when the connection it belongs to was opened.'),
  last_seq: z
    .number()
    .int()
    .min(0)
    .nullable()
    .describe('On a clean stop: the last part seq of this run (0 when none).'),
});

export type StatusPayload = z.infer<typeof statusPayloadSchema>;

export function buildStatusPayload(
  state: StatusPayload['state'],
  reason: StatusPayload['reason'],
  ids: { runId: string; lineId: string; lastSeq?: number; at?: Date },
): StatusPayload {
  return {
    schema: PAYLOAD_SCHEMA_VERSION,
    state,
    reason,
    run_id: ids.runId,
    line_id: ids.lineId,
    at: (ids.at ?? new Date()).toISOString(),
    last_seq: ids.lastSeq ?? null,
  };
}

/**
 * `<prefix>/cmd/ack`: acknowledge one alarm occurrence (`id`), the open alarm of one kind (`alarm`), or
 * all when neither is given. An empty payload acknowledges all.
 */
export const ackCommandSchema = z
  .strictObject({
    id: z.string().min(1).max(200).optional(),
    alarm: z.string().regex(ALARM_NAME_RE).optional(),
    by: z.string().max(200).optional(),
  })
  .refine((c) => c.id === undefined || c.alarm === undefined, 'give id or alarm, not both')
  // The refinement above, as JSON Schema says it (docs/schema/cmd-ack.schema.json): a refine does not carry over.
  .meta({ not: { required: ['id', 'alarm'] } });

/** An ack command as the alarm logic gets it: `id` names an occurrence, `alarm` a kind, neither means all. */
export type AckCommand = { type: 'ack' } & z.infer<typeof ackCommandSchema>;

export type MqttCommand = AckCommand;

/** Parses an ack command payload; returns an error text for the log when it is not one. */
export function parseAckCommand(payload: Buffer): AckCommand | { error: string } {
  const text = payload.toString('utf8').trim();
  if (text === '') return { type: 'ack' };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { error: 'payload is not JSON' };
  }
  const result = ackCommandSchema.safeParse(json);
  if (!result.success)
    return { error: result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
  const { id, alarm, by } = result.data;
  return { type: 'ack', ...(id ? { id } : {}), ...(alarm ? { alarm } : {}), ...(by ? { by } : {}) };
}

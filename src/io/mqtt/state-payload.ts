import { z } from 'zod';
import { FAILSAFE_REASONS, type FailsafeReason } from '../../domain/part.js';
import { PAYLOAD_SCHEMA_VERSION } from './payload.js';

/**
 * `<prefix>/state`: a retained snapshot of the line (counters, yield, health, model), so an HMI that subscribes
 * sees the line at once instead of waiting for the next part. Only the latest matters: it is never queued.
 */

const count = z.number().int().min(0);
const failsafeReasons = FAILSAFE_REASONS as unknown as [FailsafeReason, ...FailsafeReason[]];

export const statePayloadSchema = z.strictObject({
  schema: z.literal(PAYLOAD_SCHEMA_VERSION),
  run_id: z.string(),
  line_id: z.string(),
  at: z.string().describe('Wall-clock ISO 8601 time of this snapshot.'),
  counters: z
    .strictObject({
      parts: count.describe('Parts completed in this run.'),
      ok: count.describe('Parts let pass.'),
      reject: count.describe('Parts rejected, by the model or fail-safe.'),
      failsafe: z.record(z.enum(failsafeReasons), count).describe('Fail-safe rejects by reason.'),
      gate_pulses: count.describe('Gate activations (a merged pulse counts once).'),
    })
    .describe('Since the daemon started (run_id); they restart at 0 with a new run.'),
  yield: z
    .number()
    .min(0)
    .max(1)
    .nullable()
    .describe('ok / parts of this run, 4 decimals; null before the first part.'),
  health: z.strictObject({
    healthy: z.boolean().describe('The line runs and makes progress: the very check the systemd watchdog pings on.'),
    alarms_active: count.describe('Alarms raised and not yet acknowledged or cleared.'),
    outbox_queued: count.describe('Verdicts and alarms not yet acknowledged by the broker.'),
    outbox_dropped: count.describe('Messages dropped because the outbox was full (LS_MQTT_OUTBOX_FULL).'),
  }),
  model: z
    .strictObject({
      name: z.string(),
      version: z.string(),
      sha256: z.string().describe('sha256 of the ONNX file, verified at start.'),
      execution_provider: z.string().describe('The provider actually in use (cpu, cuda, ...).'),
    })
    .nullable()
    .describe('The loaded model; null while none is.'),
});

export type StatePayload = z.infer<typeof statePayloadSchema>;

/** What the app knows about the line for a snapshot; the MQTT service adds its own outbox counts. */
export interface LineStateFacts {
  parts: number;
  ok: number;
  reject: number;
  failsafe: Record<FailsafeReason, number>;
  gatePulses: number;
  alarmsActive: number;
  healthy: boolean;
  model: { name: string; version: string; sha256: string; executionProvider: string } | undefined;
}

export function buildStatePayload(
  facts: LineStateFacts,
  outbox: { queued: number; dropped: number },
  ids: { runId: string; lineId: string; at?: Date },
): StatePayload {
  const { model } = facts;
  return {
    schema: PAYLOAD_SCHEMA_VERSION,
    run_id: ids.runId,
    line_id: ids.lineId,
    at: (ids.at ?? new Date()).toISOString(),
    counters: {
      parts: facts.parts,
      ok: facts.ok,
      reject: facts.reject,
      failsafe: { ...facts.failsafe },
      gate_pulses: facts.gatePulses,
    },
    yield: facts.parts === 0 ? null : Math.round((facts.ok / facts.parts) * 10_000) / 10_000,
    health: {
      healthy: facts.healthy,
      alarms_active: facts.alarmsActive,
      outbox_queued: outbox.queued,
      outbox_dropped: outbox.dropped,
    },
    model:
      model === undefined
        ? null
        : {
            name: model.name,
            version: model.version,
            sha256: model.sha256,
            execution_provider: model.executionProvider,
          },
  };
}

import { readFileSync } from 'node:fs';
import { bundleMetadataSchema } from '../inference/bundle.js';
import { AlarmManager } from '../pipeline/alarms.js';
import type { Clock } from '../pipeline/clock.js';
import type { PartRecord } from '../domain/part.js';
import { FAILSAFE_REASONS, type FailsafeReason } from '../domain/part.js';
import { alarmEvent, buildAlarmPayload, buildStatusPayload, buildVerdictPayload } from '../io/mqtt/payload.js';
import { buildStatePayload } from '../io/mqtt/state-payload.js';

/**
 * The example payloads of docs/mqtt.md, made by the real builders from example records, so that the page shows
 * exactly the keys, types and value forms the daemon sends. `npm run docs` rewrites every block marked
 * `<!-- example: NAME -->`; a test fails when the page is stale.
 */

const RUN_ID = '20261123T130512-7f3a9c01';
const IDS = { runId: RUN_ID, lineId: 'line1' };
const SHIPPED_BUNDLE = new URL('../../models/casting-cnn/model.json', import.meta.url);

/** The model a part record names: the shipped bundle's name, version, ONNX sha256 and threshold. */
function shippedModel(): { name: string; version: string; sha256: string; threshold: number } {
  const meta = bundleMetadataSchema.parse(JSON.parse(readFileSync(SHIPPED_BUNDLE, 'utf8')));
  return { name: meta.name, version: meta.version, sha256: meta.onnx.sha256, threshold: meta.decision.threshold };
}

/** The model facts the pipeline copies into every record. */
function recordModel(): Pick<PartRecord, 'modelName' | 'modelVersion' | 'modelSha256' | 'executionProvider'> {
  const model = shippedModel();
  return { modelName: model.name, modelVersion: model.version, modelSha256: model.sha256, executionProvider: 'cpu' };
}

function part(
  seq: number,
  triggeredAt: string,
  fields: Omit<PartRecord, 'seq' | 'id' | 'runId' | 'triggerMs' | 'triggeredAt'>,
): PartRecord {
  return { seq, id: `${RUN_ID}-${seq}`, runId: RUN_ID, triggerMs: 84_400 + seq * 10, triggeredAt, ...fields };
}

/** A part the model judged defective: rejected, and the confirm sensor saw it in the chute. */
function modelReject(): PartRecord {
  const model = shippedModel();
  return part(41, '2026-11-23T13:07:44.120Z', {
    source: 'gphoto2 "Nikon DSC D3500" on usb:001,004',
    verdict: 'defective',
    defectScore: 0.9731,
    threshold: model.threshold,
    ...recordModel(),
    decision: 'reject',
    imageRef: `${RUN_ID}-41_defective_0.973.jpg`,
    stagesMs: { capture: 12.4, queue: 0.05, preprocess: 3.82, inference: 9.61, transfer: 0.31 },
    verdictLatencyMs: 26.9,
    tracking: {
      mode: 'time',
      dueMs: 84_912.337,
      fired: true,
      firedMs: 84_902.35,
      gateLatenessMs: 0.013,
      confirmed: true,
      outcome: 'fired',
    },
  });
}

/** A fail-safe reject: the camera delivered nothing, so there is no model verdict (nor threshold) for the part. */
function failSafeReject(): PartRecord {
  return part(42, '2026-11-23T13:07:44.421Z', {
    ...recordModel(),
    decision: 'reject',
    failsafeReason: 'camera_timeout',
    errorCode: 'LS_CAMERA_TIMEOUT',
    errorMessage: 'no result within 300 ms',
    stagesMs: {},
    verdictLatencyMs: 300.6,
    tracking: {
      mode: 'time',
      dueMs: 85_212.9,
      fired: true,
      firedMs: 85_202.91,
      gateLatenessMs: 0.01,
      confirmed: true,
      outcome: 'fired',
    },
  });
}

/** The alarm logic itself raises and acknowledges the example alarm, so ids, times and details are its own. */
function alarmTransitions(): { raised: unknown; acknowledged: unknown } {
  let wallMs = Date.parse('2026-11-23T13:07:46.502Z');
  const unused = (): never => {
    throw new Error('the alarm logic sets no timers');
  };
  const clock: Clock = { now: () => 0, wallNow: () => wallMs, setTimeout: unused, clearTimeout: unused };
  let raised: unknown;
  let acknowledged: unknown;
  const alarms = new AlarmManager({
    runId: RUN_ID,
    clock,
    onRaised: (alarm) => {
      raised = buildAlarmPayload(alarmEvent(alarm, 'raised'), IDS);
    },
    onAcknowledged: (acked) => {
      acknowledged = acked.map((alarm) => buildAlarmPayload(alarmEvent(alarm, 'acknowledged', 'operator-7'), IDS))[0];
    },
    onOutputError: unused,
  });
  const alarm = alarms.raise('consecutive_rejects', '10 rejects in a row', `${RUN_ID}-50`);
  wallMs += 95_000;
  alarms.acknowledge(alarm.id);
  return { raised, acknowledged };
}

/** A snapshot of the example run after 1200 parts: counters by reason, one alarm open, the shipped model. */
function stateSnapshot(): unknown {
  const failsafe = Object.fromEntries(FAILSAFE_REASONS.map((r) => [r, 0])) as Record<FailsafeReason, number>;
  failsafe.camera_timeout = 3;
  failsafe.late = 1;
  const { name, version, sha256 } = shippedModel();
  const facts = {
    parts: 1200,
    ok: 1143,
    reject: 57,
    failsafe,
    gatePulses: 56,
    alarmsActive: 1,
    healthy: true,
    model: { name, version, sha256, executionProvider: 'cpu' },
  };
  return buildStatePayload(facts, { queued: 0, dropped: 0 }, { ...IDS, at: new Date('2026-11-23T13:15:20.000Z') });
}

type Layout = 'lines' | 'line';

const EXAMPLES: Record<string, () => { payload: unknown; layout: Layout }> = {
  'verdict-model': () => ({
    payload: buildVerdictPayload(modelReject(), IDS.lineId, new Date('2026-11-23T13:07:44.147Z')),
    layout: 'lines',
  }),
  'verdict-failsafe': () => ({
    payload: buildVerdictPayload(failSafeReject(), IDS.lineId, new Date('2026-11-23T13:07:44.722Z')),
    layout: 'lines',
  }),
  'alarm-raised': () => ({ payload: alarmTransitions().raised, layout: 'lines' }),
  'alarm-acknowledged': () => ({ payload: alarmTransitions().acknowledged, layout: 'lines' }),
  state: () => ({ payload: stateSnapshot(), layout: 'lines' }),
  'status-online': () => ({
    payload: buildStatusPayload('online', 'connected', { ...IDS, at: new Date('2026-11-23T13:05:13.613Z') }),
    layout: 'line',
  }),
  'status-stopped': () => ({
    payload: buildStatusPayload('offline', 'stopped', {
      ...IDS,
      lastSeq: 42,
      at: new Date('2026-11-23T13:31:30.464Z'),
    }),
    layout: 'line',
  }),
  'status-will': () => ({
    payload: buildStatusPayload('offline', 'connection_lost', { ...IDS, at: new Date('2026-11-23T13:05:13.560Z') }),
    layout: 'line',
  }),
};

/** JSON with one top-level key a line (or all on one line), nested objects inline: how the page shows payloads. */
function format(value: unknown, layout: Layout): string {
  const inline = (v: unknown): string => {
    if (v === null || typeof v !== 'object') return JSON.stringify(v);
    const entries = Object.entries(v);
    return entries.length === 0
      ? '{}'
      : `{ ${entries.map(([k, x]) => `${JSON.stringify(k)}: ${inline(x)}`).join(', ')} }`;
  };
  if (layout === 'line' || value === null || typeof value !== 'object') return inline(value);
  return `{\n${Object.entries(value)
    .map(([k, x]) => `  ${JSON.stringify(k)}: ${inline(x)}`)
    .join(',\n')}\n}`;
}

const EXAMPLE_BLOCK = /<!-- example: ([\w-]+) -->\n```json\n[\s\S]*?\n```/g;

/** docs/mqtt.md with every example block made again from the builders. Throws on an unknown or unused example. */
export function renderMqttDoc(current: string): string {
  const used = new Set<string>();
  const out = current.replace(EXAMPLE_BLOCK, (_block, name: string) => {
    const example = EXAMPLES[name];
    if (example === undefined)
      throw new Error(`docs/mqtt.md: unknown example "${name}" (known: ${Object.keys(EXAMPLES).join(', ')})`);
    used.add(name);
    const { payload, layout } = example();
    return `<!-- example: ${name} -->\n\`\`\`json\n${format(payload, layout)}\n\`\`\``;
  });
  const unused = Object.keys(EXAMPLES).filter((name) => !used.has(name));
  if (unused.length > 0) throw new Error(`docs/mqtt.md: no block for example(s) ${unused.join(', ')}`);
  return out;
}

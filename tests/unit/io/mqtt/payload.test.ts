import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { AlarmRecord } from '../../../../src/domain/alarm.js';
import {
  alarmEvent,
  buildAlarmPayload,
  buildStatusPayload,
  buildVerdictPayload,
  parseAckCommand,
  topicsFor,
  verdictPayloadSchema,
  alarmPayloadSchema,
  statusPayloadSchema,
} from '../../../../src/io/mqtt/payload.js';
import { makeRecord } from './helpers.js';

describe('MQTT payloads', () => {
  it('a model verdict carries every field, snake_case, with units in ms', () => {
    const record = makeRecord(3, 'r1', {
      modelName: 'casting-cnn',
      modelSha256: 'ab'.repeat(32),
      imageRef: 'r1-3_defective_0.970.jpg',
    });
    record.tracking.firedMs = 1785.5; // triggered at 1300 (monotonic), 13:00:00.003Z (wall clock)
    const payload = buildVerdictPayload(record, 'cell7', new Date('2026-11-23T13:00:00.050Z'));
    expect(verdictPayloadSchema.parse(payload)).toEqual({
      schema: 1,
      id: 'r1-3',
      seq: 3,
      run_id: 'r1',
      line_id: 'cell7',
      triggered_at: '2026-11-23T13:00:00.003Z',
      decided_at: '2026-11-23T13:00:00.050Z',
      decision: 'reject',
      verdict: 'defective',
      defect_score: 0.97,
      threshold: 0.5,
      model_version: '1.0.0',
      execution_provider: 'cpu',
      model: { name: 'casting-cnn', version: '1.0.0', sha256: 'ab'.repeat(32) },
      stages_ms: { capture: 4.2, queue: 0.4, preprocess: 3.1, inference: 11.7, transfer: 0.6 },
      verdict_latency_ms: 19.4,
      failsafe_reason: null,
      error_code: null,
      error_message: null,
      label: 'defective',
      source: 'def_front/cast_def_0_3.jpeg',
      image: 'r1-3_defective_0.970.jpg',
      tracking: {
        mode: 'time',
        due_ms: 1800,
        due_count: null,
        fired: true,
        fired_ms: 1785.5,
        fired_at: '2026-11-23T13:00:00.488Z',
        confirmed: true,
        outcome: null,
      },
    });
  });

  it('without a loaded model, an archived image or a gate action those fields are null, never missing', () => {
    const record = makeRecord(1, 'r1', { modelVersion: undefined, executionProvider: undefined });
    const payload = verdictPayloadSchema.parse(buildVerdictPayload(record, 'cell7', new Date()));
    expect(payload).toMatchObject({ model: null, image: null, tracking: { fired_ms: null, fired_at: null } });
    expect(Object.keys(payload)).toEqual(Object.keys(verdictPayloadSchema.shape));
  });

  it('a fail-safe reject has null model fields and names its reason and error code', () => {
    const record = makeRecord(4, 'r1', {
      verdict: undefined,
      defectScore: undefined,
      label: undefined,
      decision: 'reject',
      failsafeReason: 'camera_timeout',
      errorCode: 'LS_CAMERA_TIMEOUT',
      errorMessage: 'no image within 300 ms',
      stagesMs: { capture: 300.0004 },
      tracking: { mode: 'encoder', dueCount: 12345, fired: true, confirmed: false, outcome: 'fired_late' },
    });
    const payload = verdictPayloadSchema.parse(buildVerdictPayload(record, 'cell7', new Date()));
    expect(payload).toMatchObject({
      decision: 'reject',
      verdict: null,
      defect_score: null,
      label: null,
      failsafe_reason: 'camera_timeout',
      error_code: 'LS_CAMERA_TIMEOUT',
      error_message: 'no image within 300 ms',
      stages_ms: { capture: 300, queue: null, preprocess: null, inference: null, transfer: null },
      tracking: {
        mode: 'encoder',
        due_ms: null,
        due_count: 12345,
        fired: true,
        confirmed: false,
        outcome: 'fired_late',
      },
    });
  });

  it('alarm and status payloads match their schemas', () => {
    const alarm = buildAlarmPayload(
      { alarm: 'reject_not_confirmed', id: 'r-A1', state: 'acknowledged', message: 'm', by: 'op', at: new Date(0) },
      { runId: 'r', lineId: 'l' },
    );
    expect(alarmPayloadSchema.parse(alarm)).toMatchObject({
      id: 'r-A1',
      code: 'LS_ALARM',
      by: 'op',
      at: '1970-01-01T00:00:00.000Z',
      details: {},
    });
    expect(
      statusPayloadSchema.parse(buildStatusPayload('offline', 'stopped', { runId: 'r', lineId: 'l', lastSeq: 0 }))
        .last_seq,
    ).toBe(0);
  });

  it('an alarm of the alarm logic becomes one event per transition: raised with its part and repeats, acknowledged with who', () => {
    const alarm: AlarmRecord = {
      id: 'r-A2',
      kind: 'gate_late',
      message: 'gate late',
      raisedMs: 5,
      raisedAt: '2026-11-23T13:00:01.000Z',
      partId: 'r-7',
      repeats: 3,
      acknowledged: true,
      acknowledgedAt: '2026-11-23T13:00:09.000Z',
    };
    const ids = { runId: 'r', lineId: 'l' };
    expect(alarmPayloadSchema.parse(buildAlarmPayload(alarmEvent(alarm, 'raised'), ids))).toMatchObject({
      alarm: 'gate_late',
      id: 'r-A2',
      state: 'raised',
      by: null,
      at: '2026-11-23T13:00:01.000Z',
      details: { part_id: 'r-7', repeats: 3 },
    });
    expect(alarmPayloadSchema.parse(buildAlarmPayload(alarmEvent(alarm, 'acknowledged', 'op'), ids))).toMatchObject({
      state: 'acknowledged',
      by: 'op',
      at: '2026-11-23T13:00:09.000Z',
      details: {},
    });
  });

  it('topics hang off the prefix, without a doubled slash', () => {
    const topics = topicsFor('plant/hall2/');
    expect([topics.verdict, topics.alarm, topics.alarmState('x'), topics.status, topics.cmdAck]).toEqual([
      'plant/hall2/verdict',
      'plant/hall2/alarm',
      'plant/hall2/alarm/state/x',
      'plant/hall2/status',
      'plant/hall2/cmd/ack',
    ]);
  });

  it('parses ack commands: empty = all, one alarm, and explains what it rejects', () => {
    expect(parseAckCommand(Buffer.from(''))).toEqual({ type: 'ack' });
    expect(parseAckCommand(Buffer.from(' {"alarm":"bin_full","by":"op"} '))).toEqual({
      type: 'ack',
      alarm: 'bin_full',
      by: 'op',
    });
    expect(parseAckCommand(Buffer.from('ack!'))).toEqual({ error: 'payload is not JSON' });
    expect(parseAckCommand(Buffer.from('{"alarm":"a/#"}'))).toMatchObject({
      error: expect.stringContaining('alarm') as unknown,
    });
    expect(parseAckCommand(Buffer.from('{"alarm":"x","extra":1}'))).toHaveProperty('error');
    expect(parseAckCommand(Buffer.from('{"id":"20261123T130512-7f3a9c01-A3","by":"op"}'))).toEqual({
      type: 'ack',
      id: '20261123T130512-7f3a9c01-A3',
      by: 'op',
    });
    expect(parseAckCommand(Buffer.from('{"id":"x-A1","alarm":"bin_full"}'))).toMatchObject({
      error: expect.stringContaining('not both') as unknown,
    });
  });

  it('every example payload in docs/mqtt.md matches its schema', async () => {
    const doc = await readFile('docs/mqtt.md', 'utf8');
    const schemas = { verdict: verdictPayloadSchema, alarm: alarmPayloadSchema, status: statusPayloadSchema } as const;
    const examples = [...doc.matchAll(/<!-- example: (\w+)-[\w-]+ -->\n```json\n([\s\S]*?)\n```/g)];
    expect(examples.map((m) => m[1])).toEqual(['verdict', 'verdict', 'alarm', 'alarm', 'status', 'status', 'status']);
    for (const [, kind, json] of examples) {
      const schema = schemas[kind as keyof typeof schemas];
      expect(() => schema.parse(JSON.parse(json!)), `${kind}: ${json}`).not.toThrow();
    }
  });
});

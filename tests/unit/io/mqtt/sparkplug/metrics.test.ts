import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ALARM_KINDS } from '../../../../../src/domain/alarm.js';
import { decodeMetrics, encodeMetrics, parseStored, storeData } from '../../../../../src/io/mqtt/sparkplug/codec.js';
import {
  RATE_WINDOW_MS,
  REASONS,
  StationMetrics,
  decisionTimeMs,
} from '../../../../../src/io/mqtt/sparkplug/metrics.js';
import type { OutboxEntry } from '../../../../../src/io/mqtt/outbox.js';
import { BdSeqFile } from '../../../../../src/io/mqtt/sparkplug/sequence.js';
import { SparkplugSession } from '../../../../../src/io/mqtt/sparkplug/session.js';
import { sparkplugTopics } from '../../../../../src/io/mqtt/sparkplug/topics.js';
import { makeRecord, silentLogger } from '../helpers.js';
import { num } from './helpers.js';

const facts = { model: () => undefined, healthy: () => undefined };

describe('StationMetrics', () => {
  it('times a part at its decision (trigger + latency), counts it by decision and reason, and reports yield', () => {
    const station = new StationMetrics(facts);
    const ok = makeRecord(1);
    const byModel = makeRecord(3); // makeRecord: every third part is defective and rejected by the model
    const failsafe = makeRecord(4, 'run-test', { decision: 'reject', failsafeReason: 'late', verdict: undefined });
    station.part(ok, 0);
    station.part(byModel, 0);
    const last = station.part(failsafe, 0);
    const value = (name: string): unknown => last.find((m) => m.name === name)?.value;
    expect(value('Counters/Parts')).toBe(3);
    expect(value('Counters/Decision/reject')).toBe(2);
    expect(value('Counters/Reason/late')).toBe(1);
    expect(value('Yield')).toBeCloseTo(1 / 3);
    expect(last.find((m) => m.name === 'Last Part/ID')?.timestamp).toBe(
      Date.parse(failsafe.triggeredAt) + Math.round(failsafe.verdictLatencyMs ?? NaN),
    );
    const birth = station.birth(Date.now());
    expect(birth.find((m) => m.name === 'Counters/Reason/model')?.value).toBe(1);
    expect(birth.find((m) => m.name === 'Counters/Decision/pass')?.value).toBe(1);
  });

  it('without a latency the part is timed when it was handed over', () => {
    expect(decisionTimeMs(makeRecord(1, 'r', { verdictLatencyMs: undefined }), 12345)).toBe(12345);
  });

  it('rate is parts per minute over the last window of decision times', () => {
    const station = new StationMetrics(facts);
    const at = (seq: number, ms: number): number | undefined => {
      const record = makeRecord(seq, 'r', { triggeredAt: new Date(ms).toISOString(), verdictLatencyMs: 0 });
      return station.part(record, 0).find((m) => m.name === 'Rate per Minute')?.value as number | undefined;
    };
    const t0 = Date.UTC(2026, 0, 1);
    for (let i = 0; i < 30; i++) at(i + 1, t0 + i * 1000); // one a second for 30 s
    expect(at(31, t0 + 30_000)).toBe(31);
    expect(at(32, t0 + RATE_WINDOW_MS + 15_500)).toBe(16); // the first 16 fell out of the window
  });

  it('reports model and health only when they change', () => {
    let healthy = true;
    const station = new StationMetrics({ model: () => undefined, healthy: () => healthy });
    const names = (seq: number): string[] => station.part(makeRecord(seq), 0).map((m) => m.name);
    names(1);
    expect(names(2)).not.toContain('Health/Healthy');
    healthy = false;
    expect(names(3)).toContain('Health/Healthy');
  });
});

describe('stored DDATA', () => {
  it('round-trips through the outbox text and encodes with seq, original timestamps and the historical flag', () => {
    const metrics = [{ name: 'Last Part/ID', type: 'String' as const, value: 'r-1', timestamp: 1_700_000_000_123 }];
    const stored = parseStored(storeData('epoch-1', metrics));
    expect(stored).toEqual({ spb: 1, epoch: 'epoch-1', metrics });
    expect(parseStored('{"schema":1,"id":"r-1"}')).toBeUndefined();
    const live = decodeMetrics(encodeMetrics(metrics, { seq: 7, nowMs: 1_800_000_000_000 }));
    expect(num(live.seq)).toBe(7);
    expect(live.metrics?.[0]?.isHistorical).toBeUndefined();
    const old = decodeMetrics(encodeMetrics(metrics, { seq: 8, nowMs: 1_800_000_000_000, historical: true }));
    expect(old.metrics?.[0]).toMatchObject({ name: 'Last Part/ID', value: 'r-1', isHistorical: true });
    expect(num(old.metrics?.[0]?.timestamp)).toBe(1_700_000_000_123);
  });
});

describe('docs/sparkplug.md', () => {
  it('names every metric of DBIRTH (alarm kinds and reasons as <kind>/<reason> rows)', async () => {
    const doc = await readFile(new URL('../../../../../docs/sparkplug.md', import.meta.url), 'utf8');
    const station = new StationMetrics({ model: () => undefined, healthy: () => true });
    const names = new Set(
      station
        .birth(0)
        .map((m) => m.name.replace(/^Alarms\/(?!Active)[^/]+\//, 'Alarms/<kind>/'))
        .map((name) => name.replace(/^Counters\/Reason\/.+$/, 'Counters/Reason/<reason>'))
        .map((name) => name.replace(/^Counters\/Decision\/.+$/, 'Counters/Decision/<decision>')),
    );
    const missing = [...names].filter((name) => !doc.includes(`| \`${name}\` |`));
    expect(missing).toEqual([]);
    for (const reason of REASONS) expect(doc).toContain(`\`${reason}\``);
    for (const kind of ALARM_KINDS) expect(doc).toContain(`\`${kind}\``);
  });
});

describe('SparkplugSession.encode', () => {
  const session = (): SparkplugSession =>
    new SparkplugSession({
      topics: sparkplugTopics({ groupId: 'g', edgeNodeId: 'e', deviceId: 'd' }),
      bdSeq: new BdSeqFile('/nonexistent-dir-for-test/bdseq.json', silentLogger()),
      station: new StationMetrics(facts),
      runId: 'r',
      lineId: 'l',
      logger: silentLogger(),
    });
  const entry = (topic: string, payload: string): OutboxEntry => ({ n: 1, topic, payload, retain: false, bytes: 0 });

  it('passes messages of other topics (a JSON verdict left by an earlier run) through unchanged', () => {
    expect(session().encode(entry('lineside/l/verdict', '{"schema":1}'))).toBe('{"schema":1}');
  });

  it('sends an unreadable or unencodable entry as an empty DDATA, keeping seq continuous', () => {
    const s = session();
    // A damaged line that still parses: protobuf refuses an object as a String value.
    const bad = JSON.stringify({
      spb: 1,
      epoch: null,
      metrics: [{ name: 'x', type: 'String', value: {}, timestamp: 1 }],
    });
    const first = decodeMetrics(s.encode(entry('spBv1.0/g/DDATA/e/d', 'garbage')) as Buffer);
    const second = decodeMetrics(s.encode(entry('spBv1.0/g/DDATA/e/d', bad)) as Buffer);
    expect([num(first.seq), num(second.seq)]).toEqual([1, 2]);
    expect(first.metrics ?? []).toEqual([]);
  });
});

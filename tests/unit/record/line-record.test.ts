import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordSection, type RecordConfig } from '../../../src/config/sections/record.js';
import type { CapturedImage } from '../../../src/domain/ports.js';
import { LinesideError } from '../../../src/errors.js';
import { exportTraining } from '../../../src/record/export.js';
import { LineRecord } from '../../../src/record/index.js';
import { hourlyRows } from '../../../src/record/aggregates.js';
import { RecordReader } from '../../../src/record/reader.js';
import { DATASET, memoryLogger } from '../../integration/harness.js';
import { partRecord, REJECT } from './parts.js';

const JPEGS = ['def_front/cast_def_0_0.jpeg', 'ok_front/cast_ok_0_1.jpeg'].map((f) => readFileSync(join(DATASET, f)));
const image = (i: number): CapturedImage => ({ data: JPEGS[i % JPEGS.length]!, source: `cam-${i}` });

describe('LineRecord: verdict history, archive, labels', () => {
  let dir: string;
  let record: LineRecord;
  let faults: string[];
  const logs = memoryLogger();

  async function open(over: Partial<RecordConfig> = {}): Promise<LineRecord> {
    const config = recordSection.parse({ dir, min_free_mb: 0, sample_passes: 0, ...over });
    faults = [];
    record = new LineRecord({
      config,
      baseDir: dir,
      logger: logs.logger,
      runId: 'run1',
      model: () => ({
        name: 'casting-cnn',
        version: '1.0.0',
        sha256: 'ab'.repeat(32),
        threshold: 0.5,
        executionProvider: 'cpu',
        requestedProviders: ['cpu'],
      }),
      onStorageFault: (message) => faults.push(message),
    });
    await record.start(new AbortController().signal);
    return record;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ls-hist-'));
  });
  afterEach(async () => {
    await record.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every part with its times, model and outcome, and archives the reject image before returning', async () => {
    await open();
    const reject = partRecord(1, REJECT);
    const pass = partRecord(2);
    record.part(reject, image(0));
    record.part(pass, image(1));
    // imageRef is set synchronously: the MQTT publish that follows carries it.
    expect(reject.imageRef).toBe('2026-12-03/run1-1_defective_0.9700.jpg');
    expect(pass.imageRef).toBeUndefined();
    await record.archiveIdle();
    const rows = record.reader.history({});
    expect(rows.map((r) => r.id)).toEqual(['run1-2', 'run1-1']);
    const r = rows[1]!;
    expect(r).toMatchObject({
      seq: 1,
      runId: 'run1',
      decision: 'reject',
      verdict: 'defective',
      defectScore: 0.97,
      imageRef: reject.imageRef,
      modelName: 'casting-cnn',
      modelSha256: 'ab'.repeat(32),
      executionProvider: 'cpu',
      outcome: 'fired',
      confirmed: true,
      stagesMs: { capture: 1.5, preprocess: 2, inference: 3 },
    });
    // Decision and gate wall times come from the monotonic deltas: +12.5 ms, +(2500 - 1100) ms.
    const t0 = Date.parse(reject.triggeredAt);
    expect(Date.parse(r.decidedAt ?? '')).toBe(Math.round(t0 + 12.5));
    expect(Date.parse(r.gateAt ?? '')).toBe(t0 + 1400);
    const archived = await record.reader.image('run1-1');
    expect(archived?.contentType).toBe('image/jpeg');
    expect(archived?.data.equals(JPEGS[0]!)).toBe(true);
    expect(await record.reader.image('run1-2')).toBeNull();
  });

  it('filters by time, decision and reason', async () => {
    await open();
    record.part(partRecord(1), undefined);
    record.part(partRecord(2, REJECT), undefined);
    record.part(
      partRecord(3, { decision: 'reject', failsafeReason: 'overrun', errorCode: 'LS_PIPELINE_OVERRUN' }),
      undefined,
    );
    const reader = record.reader;
    expect(reader.history({ decision: 'reject' }).map((r) => r.seq)).toEqual([3, 2]);
    expect(reader.history({ reason: 'overrun' }).map((r) => [r.seq, r.errorCode])).toEqual([
      [3, 'LS_PIPELINE_OVERRUN'],
    ]);
    const since = partRecord(2).triggeredAt;
    expect(reader.history({ since }).map((r) => r.seq)).toEqual([3, 2]);
    expect(reader.history({ until: since }).map((r) => r.seq)).toEqual([2, 1]);
    expect(reader.history({ limit: 1 }).map((r) => r.seq)).toEqual([3]);
  });

  it('records a label, and refuses an unknown part with LS_RECORD_UNKNOWN_PART', async () => {
    await open();
    record.part(partRecord(1), undefined);
    const row = record.reader.label('run1-1', 'defective', 'qe-anna');
    expect(row.label).toMatchObject({ label: 'defective', by: 'qe-anna' });
    expect(record.reader.history({})[0]?.label?.label).toBe('defective');
    let thrown: unknown;
    try {
      record.reader.label('run1-999', 'ok', 'qe-anna');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(LinesideError);
    expect((thrown as LinesideError).code).toBe('LS_RECORD_UNKNOWN_PART');
  });

  it('drops and counts images when the queue is full, and then announces no reference', async () => {
    await open({ archive_queue: 2 });
    const parts = [1, 2, 3, 4].map((seq) => partRecord(seq, REJECT));
    for (const p of parts) record.part(p, image(p.seq));
    expect(parts.map((p) => p.imageRef !== undefined)).toEqual([true, true, false, false]);
    await record.archiveIdle();
    expect(record.state().archive).toMatchObject({ written: 2, droppedQueueFull: 2 });
    expect(record.reader.history({ withImage: true }).map((r) => r.seq)).toEqual([2, 1]);
  });

  it('an archive that cannot be written is a storage fault and an alarm; inspection records go on', async () => {
    writeFileSync(join(dir, 'images'), 'a file where the archive directory should be');
    await open();
    const part = partRecord(1, REJECT);
    expect(() => record.part(part, image(0))).not.toThrow();
    await record.archiveIdle();
    expect(record.health().healthy).toBe(false);
    expect(record.health().reason).toMatch(/image archive write failed/);
    const archiveFaults = (): string[] => faults.filter((m) => /image archive/.test(m));
    expect(archiveFaults()).toHaveLength(1);
    // The history row stays, without the image it announced.
    expect(record.reader.history({})[0]).toMatchObject({ id: 'run1-1', decision: 'reject' });
    expect(record.reader.history({})[0]?.imageRef).toBeUndefined();
    record.part(partRecord(2, REJECT), image(1));
    await record.archiveIdle();
    expect(archiveFaults()).toHaveLength(1); // one alarm while the fault lasts
  });

  it('prunes parts and images by age, and aggregates completed hours', async () => {
    await open({ retention_days: 1 });
    const now = Date.now();
    const at = (ms: number): string => new Date(ms).toISOString();
    const hour = Math.floor((now - 3 * 86_400_000) / 3_600_000) * 3_600_000;
    record.part(partRecord(1, { ...REJECT, triggeredAt: at(hour + 1000) }), image(0));
    record.part(partRecord(2, { triggeredAt: at(hour + 2000), verdictLatencyMs: 30 }), undefined);
    record.part(partRecord(3, { ...REJECT, failsafeReason: 'late', triggeredAt: at(hour + 3000) }), undefined);
    record.part(partRecord(4, { triggeredAt: at(now) }), undefined);
    const runs = record.database.db.prepare('INSERT INTO runs (run_id, started_ms) VALUES (?, ?)');
    runs.run('run0', now - 5 * 86_400_000); // an earlier daemon run whose parts all aged out
    await record.archiveIdle();
    expect(existsSync(join(dir, 'images', `${at(hour).slice(0, 10)}/run1-1_defective_0.9700.jpg`))).toBe(true);
    await record.maintain();
    expect(record.reader.history({}).map((r) => r.seq)).toEqual([4]);
    const runIds = record.database.db.prepare('SELECT run_id FROM runs').pluck().all();
    expect(runIds).toEqual(['run1']);
    const [agg] = hourlyRows(record.database.db, hour, hour);
    expect(agg).toMatchObject({ parts: 3, rejects: 2, rejectsByReason: { model: 1, late: 1 } });
    expect(agg?.yield).toBeCloseTo(1 / 3);
    expect(agg?.latencyMaxMs).toBe(30);
    // The image ages with its part.
    expect(existsSync(join(dir, 'images', `${at(hour).slice(0, 10)}/run1-1_defective_0.9700.jpg`))).toBe(false);
    expect(record.state().archive).toMatchObject({ written: 1, deletedForAge: 1 });
  });

  it('exports archived images in the training layout; the human label wins', async () => {
    await open({ near_threshold: 0.1 });
    record.part(partRecord(1, REJECT), image(0));
    record.part(partRecord(2, { defectScore: 0.45 }), image(1));
    record.part(partRecord(3, { defectScore: 0.41 }), image(1));
    await record.archiveIdle();
    record.reader.label('run1-2', 'defective', 'qe');
    const out = join(dir, 'export');
    const result = await exportTraining(record.reader as RecordReader, { out });
    expect(result.rows.map((r) => [r.part_id, r.class, r.class_from])).toEqual([
      ['run1-1', 'defective', 'model'],
      ['run1-2', 'defective', 'label'],
      ['run1-3', 'ok', 'model'],
    ]);
    expect(readdirSync(join(out, 'def_front')).sort()).toEqual(['run1-1_defective_0.9700.jpg', 'run1-2_ok_0.4500.jpg']);
    expect(readdirSync(join(out, 'ok_front'))).toEqual(['run1-3_ok_0.4100.jpg']);
    expect((await readFile(join(out, 'ok_front/run1-3_ok_0.4100.jpg'))).equals(JPEGS[1]!)).toBe(true);
    const tsv = readFileSync(join(out, 'manifest.tsv'), 'utf8').trim().split('\n');
    expect(tsv[0]).toMatch(/^file\tpart_id\tclass\t/);
    expect(tsv).toHaveLength(4);
    const json = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { rows: { label: string | null }[] };
    expect(json.rows.map((r) => r.label)).toEqual([null, 'defective', null]);
  });
});

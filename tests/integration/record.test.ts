import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { HistoryRow } from '../../src/domain/record.js';
import { waitFor } from '../wait.js';
import { BUNDLE, ROOMY_TIMING, labelledFolder, lineside, tempDir, type Proc } from './harness.js';

/** Three CLI runs and a 300-part daemon: a minute on an idle machine, several on a loaded one. */
const TIMEOUT_MS = 300_000;

let dir: { path: string; remove: () => Promise<void> };
let configFile: string;

interface HistoryJson {
  total: number;
  rejects: number;
  rows: HistoryRow[];
}

async function finished(proc: Proc): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const code = await proc.code;
  return { code, stdout: proc.stdout(), stderr: proc.stderr() };
}

function lineConfig(images: string, recordDir: string): Record<string, unknown> {
  return {
    line_id: 'rec',
    model: { bundle: BUNDLE },
    camera: { type: 'folder', path: images, order: 'shuffle', seed: 3 },
    gpio: { type: 'sim', part_interval_ms: 60, part_length_ms: 10, confirm_delay_ms: null },
    trigger: { line: 17, min_spacing_ms: 20 },
    gate: { line: 27, pulse_ms: 10, min_gap_ms: 5 },
    ...ROOMY_TIMING,
    pipeline: { max_in_flight: 24 },
    mqtt: { url: 'embedded', embedded_port: 0, outbox_dir: path.join(recordDir, 'outbox') },
    record: { dir: recordDir, sample_passes: 10, near_threshold: 0.1, min_free_mb: 0 },
  };
}

let liveConfigFile: string;

beforeAll(async () => {
  dir = await tempDir('record');
  // 40 + 40 real castings from the dataset, replayed in a loop (shuffled).
  const images = await labelledFolder(dir.path, 40);
  configFile = path.join(dir.path, 'line.yaml');
  await writeFile(configFile, stringify(lineConfig(images, path.join(dir.path, 'var'))));
  liveConfigFile = path.join(dir.path, 'live.yaml');
  await writeFile(liveConfigFile, stringify(lineConfig(images, path.join(dir.path, 'live'))));
});

afterAll(async () => {
  await dir.remove();
});

describe('the line record on a 300-part run of the sim line', { timeout: TIMEOUT_MS }, () => {
  let summary: { parts: number; reject: number };

  it('answers `lineside history` while the daemon runs (read-only open beside its writer)', async () => {
    // No --max-parts: this daemon runs until the test stops it, so the query certainly ran beside it.
    const daemon = lineside(['run', '--config', liveConfigFile]);
    await waitFor(() => (daemon.stdout().match(/"decision"/g) ?? []).length >= 20, 120_000, 'twenty parts');
    const during = await finished(lineside(['history', '--config', liveConfigFile, '--json']));
    const rowsBefore = (daemon.stdout().match(/"decision"/g) ?? []).length;
    daemon.kill('SIGTERM');
    expect(during.code, during.stderr).toBe(0);
    expect((JSON.parse(during.stdout) as HistoryJson).total).toBeGreaterThanOrEqual(20);
    expect(rowsBefore).toBeGreaterThanOrEqual(20);
    expect(await daemon.code).toBe(0);
  });

  it('keeps all 300 parts of a --max-parts 300 run', async () => {
    const run = await finished(lineside(['run', '--config', configFile, '--max-parts', '300']));
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    summary = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as typeof summary;
    expect(summary.parts).toBe(300);
    const all = await finished(lineside(['history', '--config', configFile]));
    expect(all.stdout.trim().split('\n')).toHaveLength(301);
    expect(all.stdout.trim().split('\n').at(-1)).toBe(`total: 300 parts, ${summary.reject} rejected`);
  });

  it('`lineside history --decision reject --json` returns the rejects with a total, each with its image', async () => {
    const { code, stdout } = await finished(
      lineside(['history', '--config', configFile, '--decision', 'reject', '--json']),
    );
    expect(code).toBe(0);
    const history = JSON.parse(stdout) as HistoryJson;
    expect(summary.reject).toBeGreaterThan(0);
    expect(history.total).toBe(summary.reject);
    expect(history.rows).toHaveLength(summary.reject);
    for (const row of history.rows) {
      expect(row.decision).toBe('reject');
      expect(row.modelSha256, 'the run row names the model').toMatch(/^[0-9a-f]{64}$/);
      // A reject the model judged had a camera image, so it was archived (queue of 64, no floor). One rejected
      // before or without a capture (overrun, camera timeout on a loaded machine) has none to keep.
      if (row.verdict === undefined) continue;
      expect(row.imageRef, row.id).toMatch(new RegExp(`^\\d{4}-\\d{2}-\\d{2}/${row.id}_`));
    }
  });

  it('labels a part, refuses an unknown one with its code, and exports the training layout', async () => {
    const unknown = await finished(lineside(['label', 'no-such-part', 'ok', '--config', configFile]));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^LS_RECORD_UNKNOWN_PART: /);
    const listed = await finished(lineside(['history', '--config', configFile, '--decision', 'pass', '--json']));
    const passes = (JSON.parse(listed.stdout) as HistoryJson).rows.filter((r) => r.imageRef !== undefined);
    expect(passes.length, 'archived passes (near the threshold or sampled)').toBeGreaterThan(0);
    const relabelled = passes[0]!;
    const label = await finished(
      lineside(['label', relabelled.id, 'defective', '--by', 'qe-test', '--config', configFile]),
    );
    expect(label.code, label.stderr).toBe(0);
    const out = path.join(dir.path, 'export');
    const exported = await finished(lineside(['export', '--since', '1d', '--out', out, '--config', configFile]));
    expect(exported.code, exported.stderr).toBe(0);
    const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as {
      rows: { file: string; part_id: string; class: string; class_from: string; label: string | null }[];
    };
    const def = await readdir(path.join(out, 'def_front'));
    const ok = await readdir(path.join(out, 'ok_front'));
    expect(def.length + ok.length).toBe(manifest.rows.length);
    expect(manifest.rows.length).toBeGreaterThanOrEqual(summary.reject);
    const row = manifest.rows.find((r) => r.part_id === relabelled.id);
    expect(row).toMatchObject({ class: 'defective', class_from: 'label', label: 'defective' });
    expect(def).toContain(path.basename(row!.file));
    const tsv = (await readFile(path.join(out, 'manifest.tsv'), 'utf8')).trim().split('\n');
    expect(tsv).toHaveLength(manifest.rows.length + 1);
  });
});

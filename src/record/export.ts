import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Verdict } from '../domain/part.js';
import type { HistoryRow } from '../domain/record.js';
import type { RecordReader } from './reader.js';

/** The training layout's folders (src/cli/eval.ts LABEL_FOLDERS): the class of an image is its folder. */
const FOLDERS: Readonly<Record<Verdict, string>> = { defective: 'def_front', ok: 'ok_front' };

export interface ManifestRow {
  /** Relative to the export folder, e.g. def_front/<ref's file name>. */
  file: string;
  part_id: string;
  class: Verdict;
  /** Where the class came from: an operator's label wins over the model's verdict. */
  class_from: 'label' | 'model';
  label: string | null;
  label_by: string | null;
  verdict: Verdict | null;
  defect_score: number | null;
  threshold: number | null;
  decision: string;
  failsafe_reason: string | null;
  triggered_at: string;
  model: string | null;
}

export interface ExportResult {
  rows: ManifestRow[];
  /** Parts with an archived image that were left out, and why (no class: no verdict and no label; image gone). */
  skipped: { part_id: string; why: string }[];
}

const COLUMNS: readonly (keyof ManifestRow)[] = [
  'file',
  'part_id',
  'class',
  'class_from',
  'label',
  'label_by',
  'verdict',
  'defect_score',
  'threshold',
  'decision',
  'failsafe_reason',
  'triggered_at',
  'model',
];

function manifestRow(row: HistoryRow, cls: Verdict, file: string): ManifestRow {
  return {
    file,
    part_id: row.id,
    class: cls,
    class_from: row.label ? 'label' : 'model',
    label: row.label?.label ?? null,
    label_by: row.label?.by ?? null,
    verdict: row.verdict ?? null,
    defect_score: row.defectScore ?? null,
    threshold: row.threshold ?? null,
    decision: row.decision,
    failsafe_reason: row.failsafeReason ?? null,
    triggered_at: row.triggeredAt,
    model: row.modelName === undefined ? null : `${row.modelName} ${row.modelVersion ?? ''}`.trim(),
  };
}

/**
 * Writes the archived images of the parts triggered in [since, until] in the training layout (def_front/,
 * ok_front/: the operator's label wins over the model's verdict), byte for byte as the camera gave them, and
 * manifest.tsv / manifest.json with ids, scores and labels. `lineside eval --data OUT` and training read it.
 */
export async function exportTraining(
  reader: RecordReader,
  options: { out: string; since?: string; until?: string },
): Promise<ExportResult> {
  const { out, since, until } = options;
  const rows = reader.history({ withImage: true, ...(since ? { since } : {}), ...(until ? { until } : {}) }).reverse();
  for (const folder of Object.values(FOLDERS)) await mkdir(join(out, folder), { recursive: true });
  const result: ExportResult = { rows: [], skipped: [] };
  for (const row of rows) {
    const cls = row.label?.label ?? row.verdict;
    if (cls === undefined) {
      result.skipped.push({ part_id: row.id, why: 'no model verdict and no label' });
      continue;
    }
    const image = await reader.image(row.id);
    if (image === null) {
      result.skipped.push({ part_id: row.id, why: 'image no longer archived' });
      continue;
    }
    const file = `${FOLDERS[cls]}/${basename(image.ref)}`;
    await writeFile(join(out, file), image.data);
    result.rows.push(manifestRow(row, cls, file));
  }
  const tsv = [COLUMNS.join('\t'), ...result.rows.map((r) => COLUMNS.map((c) => String(r[c] ?? '')).join('\t'))];
  await writeFile(join(out, 'manifest.tsv'), `${tsv.join('\n')}\n`);
  const json = { exported_at: new Date().toISOString(), since: since ?? null, until: until ?? null, ...result };
  await writeFile(join(out, 'manifest.json'), `${JSON.stringify(json, null, 2)}\n`);
  return result;
}

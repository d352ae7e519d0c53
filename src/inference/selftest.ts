import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Verdict } from '../domain/part.js';
import type { Inspection } from '../domain/ports.js';
import { LinesideError, errorCode, errorMessage } from '../errors.js';
import { readRegularFile } from '../regular-file.js';
import type { ModelBundle, Probe } from './bundle.js';

/** What the self-test before arming checked, for the log line and `doctor`. */
export interface SelfTestReport {
  probes: number;
  /** Largest |actual - expected| over the probes (0 without probes). */
  maxProbeDrift: number;
  tolerance: number | undefined;
  goldenParts: number;
}

/** One line per probe whose score is further than `tolerance` from its expected score (or not a number). */
export function probeProblems(probes: readonly Probe[], scores: readonly number[], tolerance: number): string[] {
  const problems: string[] = [];
  probes.forEach((probe, i) => {
    const actual = scores[i];
    const drift = actual === undefined ? Number.NaN : Math.abs(actual - probe.expectedScore);
    if (!(drift <= tolerance)) {
      problems.push(
        `probe ${probe.file}: score ${String(actual)}, expected ${probe.expectedScore} +/- ${tolerance} (drift ${drift})`,
      );
    }
  });
  return problems;
}

export function maxDrift(probes: readonly Probe[], scores: readonly number[]): number {
  return probes.reduce((max, probe, i) => Math.max(max, Math.abs((scores[i] ?? Number.NaN) - probe.expectedScore)), 0);
}

const GOLDEN_FOLDERS: Readonly<Record<Verdict, string>> = { defective: 'def_front', ok: 'ok_front' };

/**
 * Inspect every image in `dir/def_front` and `dir/ok_front` (the line's golden parts) through the whole path
 * (decode, preprocess, the provider in use) and list the ones that do not get their folder's verdict. An image that
 * cannot be judged is a problem too; so is a directory holding no image at all (a self-test that tests nothing).
 */
export async function goldenProblems(
  dir: string,
  inspect: (image: Buffer) => Promise<Inspection>,
): Promise<{ checked: number; problems: string[] }> {
  const problems: string[] = [];
  let checked = 0;
  for (const [label, folder] of Object.entries(GOLDEN_FOLDERS) as [Verdict, string][]) {
    let entries: Dirent[] = [];
    try {
      entries = await readdir(path.join(dir, folder), { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') problems.push(`${folder}: ${errorMessage(err)}`);
    }
    const names = entries.filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => e.name);
    for (const name of names.sort()) {
      const rel = `${folder}/${name}`;
      checked += 1;
      try {
        const inspection = await inspect(await readRegularFile(path.join(dir, folder, name)));
        if (inspection.verdict !== label) {
          problems.push(
            `golden ${rel}: judged ${inspection.verdict} (score ${inspection.defectScore.toFixed(6)}, ` +
              `threshold ${inspection.threshold}), must be ${label}`,
          );
        }
      } catch (err) {
        problems.push(`golden ${rel}: could not be judged: ${errorCode(err)}: ${errorMessage(err)}`);
      }
    }
  }
  if (checked === 0) problems.push(`model.selftest_dir ${dir} holds no image in def_front/ or ok_front/`);
  return { checked, problems };
}

export function selfTestError(provider: string, problems: readonly string[]): LinesideError {
  return new LinesideError(
    'LS_MODEL_SELFTEST',
    `self-test before arming failed on '${provider}' (${problems.length} problem(s)): ${problems.join('; ')}`,
  );
}

export interface SelfTestInputs {
  bundle: ModelBundle;
  /** The worker's scores of bundle.probes, on the provider in use. */
  probeScores: readonly number[];
  provider: string;
  selftestDir: string | undefined;
  inspect: (image: Buffer) => Promise<Inspection>;
}

/** The self-test before arming: probes within tolerance, golden parts judged right; LS_MODEL_SELFTEST otherwise. */
export async function runSelfTest(inputs: SelfTestInputs): Promise<SelfTestReport> {
  const { probes } = inputs.bundle;
  const tolerance = inputs.bundle.metadata.probes?.tolerance;
  const problems = tolerance === undefined ? [] : probeProblems(probes, inputs.probeScores, tolerance);
  let goldenParts = 0;
  if (inputs.selftestDir !== undefined) {
    const golden = await goldenProblems(inputs.selftestDir, inputs.inspect);
    goldenParts = golden.checked;
    problems.push(...golden.problems);
  }
  if (problems.length > 0) throw selfTestError(inputs.provider, problems);
  return { probes: probes.length, maxProbeDrift: maxDrift(probes, inputs.probeScores), tolerance, goldenParts };
}

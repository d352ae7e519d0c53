import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Probe } from '../../../src/inference/bundle.js';
import { probeProblems } from '../../../src/inference/selftest.js';
import { WorkerInspector } from '../../../src/inference/worker-inspector.js';
import { BUNDLE_DIR, captureLogger, datasetImages, inferenceConfig, rejection, tempDir } from './helpers.js';

const never = new AbortController().signal;
const started: WorkerInspector[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((inspector) => inspector.stop()));
});

function inspector(bundleDir: string, selftestDir?: string): WorkerInspector {
  const made = new WorkerInspector({
    bundleDir,
    inference: inferenceConfig(),
    ...(selftestDir === undefined ? {} : { selftestDir }),
  });
  started.push(made);
  return made;
}

interface ProbeMetadata {
  probes: { tolerance: number; inputs: { file: string; expected_score: number }[] };
}

/** A copy of the shipped bundle with one probe's expected score moved by `by` (the .onnx untouched). */
async function bundleWithMovedProbe(by: number): Promise<string> {
  const dir = await tempDir('moved-probe');
  await cp(BUNDLE_DIR, dir, { recursive: true });
  const file = path.join(dir, 'model.json');
  const metadata = JSON.parse(await readFile(file, 'utf8')) as ProbeMetadata;
  metadata.probes.inputs[0]!.expected_score += by;
  await writeFile(file, JSON.stringify(metadata, null, 2));
  return dir;
}

/** Golden parts copied from the dataset (never into the repository): `defective` files go to def_front/. */
async function goldenDir(parts: { defective: string[]; ok: string[] }): Promise<string> {
  const dir = await tempDir('golden');
  for (const [label, folder] of [
    ['defective', 'def_front'],
    ['ok', 'ok_front'],
  ] as const) {
    await mkdir(path.join(dir, folder));
    for (const file of parts[label]) await cp(file, path.join(dir, folder, path.basename(file)));
  }
  return dir;
}

describe('the self-test before arming (issue 14 item 4)', () => {
  it('the shipped bundle passes: every probe within tolerance on the CPU, logged with "model ready"', async () => {
    const log = captureLogger();
    const made = new WorkerInspector({ bundleDir: BUNDLE_DIR, inference: inferenceConfig(), logger: log.logger });
    started.push(made);
    await made.start(never);
    expect(made.selfTest).toMatchObject({ probes: 5, tolerance: 0.001, goldenParts: 0 });
    expect(made.selfTest!.maxProbeDrift).toBeLessThanOrEqual(0.001);
    expect(log.lines.find((l) => l.msg === 'model ready')).toMatchObject({ selfTest: { probes: 5 } });
  });

  it('refuses to start (LS_MODEL_SELFTEST) when a probe scores beyond its tolerance, naming the probe', async () => {
    const made = inspector(await bundleWithMovedProbe(0.002));
    const err = await rejection(made.start(never));
    expect(err.code).toBe('LS_MODEL_SELFTEST');
    expect(err.message).toMatch(
      /on 'cpu'.*probe probes\/gradient-10\.u8: score 0\.36\d+, expected 0\.363\d+ \+\/- 0\.001/,
    );
    // Nothing was left running: the inspector refuses work.
    expect((await rejection(made.inspect(Buffer.alloc(1)))).message).toContain('not running');
  });

  it('accepts a drift inside the tolerance', async () => {
    const made = inspector(await bundleWithMovedProbe(0.0009));
    await made.start(never);
    expect(made.selfTest!.maxProbeDrift).toBeGreaterThan(0.0008);
  });

  it('golden parts judged right pass; a mislabelled one (a defective casting in ok_front/) fails', async () => {
    const [def1, def2] = datasetImages('defective', 2);
    const [ok1] = datasetImages('ok', 1);
    const good = inspector(BUNDLE_DIR, await goldenDir({ defective: [def1!], ok: [ok1!] }));
    await good.start(never);
    expect(good.selfTest).toMatchObject({ goldenParts: 2 });

    const bad = inspector(BUNDLE_DIR, await goldenDir({ defective: [def1!], ok: [ok1!, def2!] }));
    const err = await rejection(bad.start(never));
    expect(err.code).toBe('LS_MODEL_SELFTEST');
    expect(err.message).toContain(`golden ok_front/${path.basename(def2!)}: judged defective`);
    expect(err.message).toContain('must be ok');
  });

  it('an empty golden directory fails rather than testing nothing', async () => {
    const err = await rejection(inspector(BUNDLE_DIR, await tempDir('empty-golden')).start(never));
    expect(err.code).toBe('LS_MODEL_SELFTEST');
    expect(err.message).toContain('holds no image');
  });
});

describe('probeProblems', () => {
  const probe = (expectedScore: number): Probe => ({ file: 'probes/p.u8', pixels: new Uint8Array(1), expectedScore });

  it('flags a drift beyond the tolerance, a missing score and NaN; accepts the boundary', () => {
    expect(probeProblems([probe(0.5)], [0.5005], 0.001)).toEqual([]);
    expect(probeProblems([probe(0.5)], [0.5015], 0.001)).toHaveLength(1);
    expect(probeProblems([probe(0.5)], [], 0.001)).toHaveLength(1);
    expect(probeProblems([probe(0.5)], [Number.NaN], 0.001)).toHaveLength(1);
  });
});

/**
 * Record the pinned probes' expected scores in a model bundle (the self-test before arming, docs/gpu.md).
 *
 *     node --import tsx scripts/record-probes.ts models/casting-cnn
 *
 * Reads BUNDLE/probes/*.u8 (written by training/probes.py), runs each through onnxruntime on the CPU provider
 * exactly as the daemon does, and writes model.json's `probes` section (file, sha256, expected score, tolerance).
 * It also records the .onnx file's sha256 and size, so run it last, after anything that rewrote the graph
 * (training/train.sh runs it after train.py).
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { toInputTensorData } from '../src/inference/preprocess.js';
import { openSession } from '../src/inference/session.js';

/** Absolute score difference the self-test accepts; docs/gpu.md says why. */
const TOLERANCE = 0.001;

interface Metadata {
  onnx: { file: string; sha256: string; bytes: number };
  input: { name: string };
  output: { name: string };
  preprocess: { width: number; height: number };
  probes?: unknown;
  [key: string]: unknown;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

const bundle = process.argv[2];
if (bundle === undefined) {
  console.error('usage: node --import tsx scripts/record-probes.ts BUNDLE_DIR');
  process.exit(64);
}
const metadataPath = path.join(bundle, 'model.json');
const metadata = JSON.parse(readFileSync(metadataPath, 'utf8')) as Metadata;
const onnxBytes = new Uint8Array(readFileSync(path.join(bundle, metadata.onnx.file)));
metadata.onnx.sha256 = sha256(onnxBytes);
metadata.onnx.bytes = onnxBytes.length;
const { width, height } = metadata.preprocess;
const session = await openSession({
  model: { onnxBytes, inputName: metadata.input.name, outputName: metadata.output.name, width, height },
  providers: ['cpu'],
  requireGpu: false,
  intraOpThreads: 1,
  warn: (message) => console.error(message),
});
const files = readdirSync(path.join(bundle, 'probes'))
  .filter((name) => name.endsWith('.u8'))
  .sort();
const inputs = [];
for (const name of files) {
  const pixels = new Uint8Array(readFileSync(path.join(bundle, 'probes', name)));
  if (pixels.length !== width * height)
    throw new Error(`probes/${name}: ${pixels.length} bytes, not ${width}x${height}`);
  const score = await session.run(toInputTensorData(pixels));
  inputs.push({ file: `probes/${name}`, sha256: sha256(pixels), expected_score: score });
  console.log(`probes/${name}: ${score}`);
}
await session.release();
const { version } = JSON.parse(
  readFileSync(new URL('../node_modules/onnxruntime-node/package.json', import.meta.url), 'utf8'),
) as { version: string };
metadata.probes = { tolerance: TOLERANCE, recorded_with: `onnxruntime-node ${version}, cpu provider`, inputs };
writeFileSync(metadataPath, `${JSON.stringify(metadata, null, 2)}\n`);
console.log(`wrote ${metadataPath}: sha256 ${metadata.onnx.sha256}, ${inputs.length} probes`);

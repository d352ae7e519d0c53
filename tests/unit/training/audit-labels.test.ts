import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { findPython } from './python.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const audit = path.join(root, 'training/audit_labels.py');

/**
 * Writes a tensor file in the layout `lineside export-tensors` writes (read back by training/lineside_tensors.py):
 * noise images where #1 is #0 turned a quarter with the other label (a conflict), #3 is #2 mirrored and darker
 * with the same label (a twin, not a conflict), and #4..#9 are unrelated.
 */
const makeTensors = (file: string) => `
import json, struct, numpy as np
rng = np.random.default_rng(1)
size = 32
base = [rng.integers(0, 256, (size, size), dtype=np.uint8) for _ in range(8)]
imgs = [base[0], np.rot90(base[0]).copy(), base[1], (np.fliplr(base[1]) * 0.8).astype(np.uint8), base[7]] + base[2:7]
labels = [1, 0, 1, 1, 1, 0, 1, 0, 1, 0]
n = len(imgs)
header = {"format": "lineside-tensors/1", "channels": 1, "dtype": "uint8", "count": n, "height": size, "width": size}
def encode(h):
    return json.dumps(h).encode()
h = dict(header, labels_offset=0, pixels_offset=0)
length = len(encode(h))
while True:
    h["labels_offset"] = 12 + length
    h["pixels_offset"] = 12 + length + n
    if len(encode(h)) == length:
        break
    length = len(encode(h))
blob = encode(h)
with open(${JSON.stringify(file)}, "wb") as f:
    f.write(b"LSTENS01" + struct.pack("<I", len(blob)) + blob + bytes(labels) + b"".join(i.tobytes() for i in imgs))
with open(${JSON.stringify(file)} + ".files.tsv", "w") as f:
    f.write("index\\tlabel\\tpath\\n")
    for i, l in enumerate(labels):
        f.write(f"{i}\\t{l}\\t{'def_front' if l else 'ok_front'}/img_{i}.jpeg\\n")
`;

describe('training/audit_labels.py', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('lists a pair of near-identical images with opposite labels, across turns and flips, and nothing else', (ctx) => {
    const python = findPython('numpy, torch');
    if (python === undefined) {
      ctx.skip('python3 with numpy and torch not found (set PYTHON=...)');
      return;
    }
    dir = mkdtempSync(path.join(tmpdir(), 'lineside-audit-'));
    const tensors = path.join(dir, 't.lstens');
    const made = spawnSync(python, ['-c', makeTensors(tensors)], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const out = path.join(dir, 'audit.tsv');
    const run = spawnSync(python, [audit, '--tensors', tensors, '--out', out, '--size', '32', '--min-similarity', '0.98'], {
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('1 opposite-label pairs');
    const rows = readFileSync(out, 'utf8').trim().split('\n');
    expect(rows[0]).toBe('similarity\tdefective\tdefective_split\tok\tok_split');
    expect(rows).toHaveLength(2);
    const [similarity, defective, defSplit, ok, okSplit] = rows[1]!.split('\t');
    expect(Number(similarity)).toBeGreaterThan(0.999);
    expect(defective).toBe('def_front/img_0.jpeg');
    expect(ok).toBe('ok_front/img_1.jpeg');
    expect(['train', 'val']).toContain(defSplit);
    expect(['train', 'val']).toContain(okSplit);
  });
});

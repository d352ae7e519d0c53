import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findPython } from './python.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function runPython(python: string, code: string): unknown {
  const run = spawnSync(python, ['-c', code], { cwd: path.join(root, 'training'), encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim().split('\n').pop()!);
}

describe('training/train.py decisions', () => {
  const python = findPython('numpy, torch');

  it('chooses a threshold with zero escapes, then the fewest false rejects, with room on both sides', (ctx) => {
    if (python === undefined) {
      ctx.skip('python3 with numpy and torch not found (set PYTHON=...)');
      return;
    }
    // Defectives 0.40..0.99; ok parts mostly low, one at 0.30 (below every defective) and one at 0.60 (inside).
    const result = runPython(
      python,
      `
import json, numpy as np
from train import choose_threshold, confusion
probs = np.array([0.99, 0.95, 0.40, 0.70, 0.01, 0.05, 0.30, 0.60, 0.02])
labels = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0])
t, min_def, lower = choose_threshold(probs, labels)
print(json.dumps({"t": t, "min_def": min_def, "lower": lower, "cm": confusion(probs, labels, t)}))
`,
    ) as { t: number; min_def: number; lower: number; cm: Record<string, number> };
    expect(result.min_def).toBe(0.4);
    expect(result.lower).toBe(0.3);
    expect(result.t).toBeGreaterThan(0.3);
    expect(result.t).toBeLessThanOrEqual(0.4);
    expect(result.cm).toEqual({ true_defective: 4, escapes: 0, false_rejects: 1, true_ok: 4 });
  });

  it('splits each class by the same fraction, disjointly and reproducibly', (ctx) => {
    if (python === undefined) {
      ctx.skip('python3 with numpy and torch not found (set PYTHON=...)');
      return;
    }
    const result = runPython(
      python,
      `
import json, numpy as np
from train import stratified_split
labels = np.array([1] * 300 + [0] * 200)
tr, va = stratified_split(labels, 0.2, 7)
tr2, va2 = stratified_split(labels, 0.2, 7)
_, va3 = stratified_split(labels, 0.2, 8)
print(json.dumps({"train": len(tr), "val": len(va), "val_def": int(labels[va].sum()), "overlap": len(set(tr) & set(va)),
  "same": bool((va == va2).all()), "other_seed_differs": bool((va != va3).any()), "covers": len(set(tr) | set(va))}))
`,
    );
    expect(result).toEqual({ train: 400, val: 100, val_def: 60, overlap: 0, same: true, other_seed_differs: true, covers: 500 });
  });
});

"""Pinned probe inputs for the daemon's self-test before arming (docs/gpu.md, "Self-test").

A few synthetic model inputs, the same on every export (fixed seeds, no dataset image), written into the bundle as
raw uint8 pixels (`probes/NAME.u8`, row-major, height x width, the values the daemon feeds the graph as float32).
Their expected scores are recorded by `scripts/record-probes.ts` with onnxruntime on the CPU, the reference the
daemon compares the execution provider actually in use against, before it arms.

They exercise the model and the provider, not decoding or resizing (the optional `model.selftest_dir` golden parts
do that). They are faint patterns so that their scores land away from 0 and 1, where the sigmoid would flatten a
drift of the logits (an FP16 engine, a broken kernel) below any tolerance.

Usage: /usr/bin/python3 training/probes.py BUNDLE_DIR   (reads the input size from BUNDLE_DIR/model.json)
"""
import json
import os
import sys

import numpy as np

PROBE_DIR = "probes"


def make_probes(height, width):
    """name -> uint8 array [height, width]; deterministic. Low-contrast patterns around mid-grey: the shipped model
    scores these between 0.01 and 0.99 (a stronger pattern or plain noise saturates the sigmoid)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    radius = np.hypot(yy - cy, xx - cx) / (min(height, width) / 2.0)
    ring = np.cos(radius * 3.0 * np.pi) * (radius < 1.0)
    probes = {
        "grey-128": np.full((height, width), 128.0),
        "gradient-10": 118.0 + 20.0 * xx / max(width - 1, 1),
        "ring-10": 128.0 + 10.0 * ring,
        "ring-20": 128.0 + 20.0 * ring,
        "ring-10-noise-seed2": 128.0 + 10.0 * ring + np.random.default_rng(2).normal(0.0, 2.0, (height, width)),
    }
    return {name: np.clip(np.rint(p), 0, 255).astype(np.uint8) for name, p in probes.items()}


def write_probes(bundle_dir, height, width):
    """Write BUNDLE_DIR/probes/NAME.u8 and return the relative file names, in a stable order."""
    os.makedirs(os.path.join(bundle_dir, PROBE_DIR), exist_ok=True)
    files = []
    for name, pixels in sorted(make_probes(height, width).items()):
        rel = f"{PROBE_DIR}/{name}.u8"
        with open(os.path.join(bundle_dir, rel), "wb") as f:
            f.write(pixels.tobytes())
        files.append(rel)
    return files


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    bundle = sys.argv[1]
    with open(os.path.join(bundle, "model.json"), encoding="utf-8") as f:
        meta = json.load(f)
    for rel in write_probes(bundle, meta["preprocess"]["height"], meta["preprocess"]["width"]):
        print(f"{bundle}/{rel}")


if __name__ == "__main__":
    main()

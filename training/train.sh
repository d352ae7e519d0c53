#!/usr/bin/env bash
# Reproduce the shipped model bundle: export tensors with the daemon's own preprocessing, then train.
# Usage: bash training/train.sh [DATA_DIR] [BUNDLE_DIR]   (defaults: ../shared/casting/train models/casting-cnn)
# Extra arguments for train.py can be passed in TRAIN_ARGS, e.g. TRAIN_ARGS="--epochs 20".
set -euo pipefail
cd "$(dirname "$0")/.."

data="${1:-../shared/casting/train}"
bundle="${2:-models/casting-cnn}"
tensors="training/cache/casting-$(node -e 'const s=require("./training/preprocess.json"); process.stdout.write(`${s.width}x${s.height}`)').lstens"
python="${PYTHON:-/usr/bin/python3}"

node --import tsx -e '
  import("./src/cli/export-tensors.ts").then(async (m) => {
    process.exitCode = await m.runExportTensors(process.argv.slice(1), { stdout: process.stdout, stderr: process.stderr });
  });
' -- --data "$data" --out "$tensors" --spec training/preprocess.json --concurrency 2

# shellcheck disable=SC2086
"$python" training/train.py --tensors "$tensors" --out "$bundle" --work training/out \
  --command "bash training/train.sh $*" ${TRAIN_ARGS:-}

# The pinned probes' expected scores (the self-test before arming), run by onnxruntime as the daemon runs them.
node --import tsx scripts/record-probes.ts "$bundle"

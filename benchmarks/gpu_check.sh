#!/usr/bin/env bash
# Issue 25's GPU figures in one call, on a machine with a CUDA GPU and this repository's .venv:
#
#   benchmarks/gpu_check.sh                 # results under $OUT (default benchmarks/results/gpu-<date>)
#   OUT=/some/dir IMAGES=400 benchmarks/gpu_check.sh
#
# 1. what torch sees (GPU, CUDA, CPUs) and what `--precision auto` picks there;
# 2. benchmarks/index_throughput.py on CUDA: fp32 against fp16 and bf16 in one run (images/s, CPU-ms per
#    photo, cosine to fp32), with as many decoding threads as the machine has CPUs (index's default);
# 3. benchmarks/scale.py with the text tower on CUDA (the sorting stage at 1k and 10k photos).
#
# Every step writes its own file, so a step that fails still leaves the others' figures. No network is
# needed: the models have random weights and the photos are generated (bench-out/, git-ignored).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-benchmarks/results/gpu-$(date -u +%Y%m%d)}
IMAGES=${IMAGES:-400}
SIZES=${SIZES:-1000,10000}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 PYTHONPATH="src:.${PYTHONPATH:+:$PYTHONPATH}"
status=0

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  "$PY" - <<'EOF'
import os, torch
from proxysort.encoders import ModelSpec, load_clip
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
print("cpus for this process", len(os.sched_getaffinity(0)))
clip = load_clip(ModelSpec("ViT-B-32", "none", "cuda"))
print("precision auto picks", clip.settle_precision(), "on", clip.device)
EOF
} > "$OUT/machine.txt" 2>&1 || status=1
cat "$OUT/machine.txt"

"$PY" benchmarks/index_throughput.py --device cuda --images "$IMAGES" --batch-size 128 --rounds 3 \
    --precisions fp16,bf16 --json "$OUT/index-throughput.json" > "$OUT/index-throughput.txt" 2>&1 || status=1
tail -25 "$OUT/index-throughput.txt"

"$PY" -m benchmarks.scale --device cuda --sizes "$SIZES" --old-sizes 1000 --threads 4 \
    --json "$OUT/scale.json" > "$OUT/scale.txt" 2>&1 || status=1
tail -25 "$OUT/scale.txt"
exit $status

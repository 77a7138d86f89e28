#!/usr/bin/env bash
# One job on a lent GPU machine (the `device` tool), run from the repository root:
#   carry: [".device", "results/_checkpoints"]
#   command: TARGETS="lenet_cifar:paper" BUDGET_MIN=8 WORKERS=8 bash scripts/gpu_job.sh
#   (Table 2: TARGETS="resnet_tiny_imagenet:paper resnet_tiny_imagenet_readings:paper")
#   BENCH=1 first stores the step-time benchmark in $OUT/benchmark-cuda.json.
# It unpacks the data that `make device-data` packed, trains pending runs for at most
# BUDGET_MIN minutes in WORKERS processes sharing the GPU (no papermill, no install: the
# machine's torch, pandas and tqdm), and packs finished runs and checkpoints into
# $OUT/runs.tar.gz; here, `make unpack-runs ARCHIVE=<that file>` adds them to results/.
set -euo pipefail
TARGETS=${TARGETS:-lenet_cifar:paper}
mkdir -p data
[ -d data/tiny-imagenet-200 ] || tar xJf .device/tiny-imagenet-200.tar.xz -C data
export FALIGN_DATA=$PWD/data FALIGN_CACHE=$PWD/.device/cache PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
export FALIGN_PROGRESS=0 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
if [ "${BENCH:-0}" = 1 ]; then
  # The performance page's GPU panels (issue: speed and scale), a minute or two on an H100;
  # here, copy $OUT/benchmark-cuda.json to results/benchmarks/ and commit it.
  python3 scripts/benchmark.py --device "${DEVICE:-cuda}" --rounds 15 \
      --sections rules width concurrency resnet --out "$OUT/benchmark-cuda.json"
fi
python3 -m falign.runs train $TARGETS --device "${DEVICE:-cuda}" --workers "${WORKERS:-8}" \
    --budget-min "${BUDGET_MIN:-8}"
for family in $(printf '%s\n' $TARGETS | cut -d: -f1 | sort -u); do
  # A file comes back only under 16 MiB: ResNet-18 checkpoints (~130 MB) stay behind, so
  # give ResNet jobs a budget that finishes the runs they start.
  python3 -m falign.runs pack "$family" "$OUT/runs-$family.tar.gz" --max-checkpoint-mb 4
done

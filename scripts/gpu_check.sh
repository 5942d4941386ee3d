#!/usr/bin/env bash
# The CUDA paths, on a machine with an NVIDIA GPU (nothing else in the project needs one):
#   1. mixed precision (float16 + GradScaler) for each task, with an interrupted run resumed;
#   2. channels-last for classification and segmentation;
#   3. a 1-GPU torchrun (NCCL) with --sync-bn, resumed in a plain process;
#   4. classification training throughput (images/s), AMP off and on, engine against a bare loop.
# Usage: scripts/gpu_check.sh [python]   (default: .venv/bin/python, else python3). About 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT=$(mktemp -d /tmp/mnv3lib-gpu-check.XXXXXX)
trap 'echo "runs left in $OUT"' EXIT
"$PY" - <<'PYEOF'
import sys, torch
if not torch.cuda.is_available():
    sys.exit("gpu_check: torch sees no CUDA GPU here (torch " + torch.__version__ + "); nothing to check")
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}, {torch.cuda.device_count()} GPU(s)")
PYEOF
train() { "$PY" -m mnv3lib.train "$@"; }
SHAPES=(--dataset shapes --shapes-train-size 2048 --shapes-val-size 512 -b 128 --device cuda)
SCENES=(--scenes-train-size 256 --scenes-val-size 64 --device cuda)

echo "== 1. AMP (float16) for each task, interrupted after epoch 1 and resumed"
train classification "${SHAPES[@]}" --amp --epochs 2 --stop-after-epoch 1 --output-dir "$OUT/cls-amp"
train classification "${SHAPES[@]}" --amp --epochs 2 --output-dir "$OUT/cls-amp" --resume "$OUT/cls-amp/checkpoint.pt"
"$PY" -c "import torch,sys; c=torch.load(sys.argv[1], map_location='cpu', weights_only=False); assert c['scaler'] and c['runtime']['amp']; assert all(t.device.type=='cpu' for t in c['model'].values()); print('checkpoint: CPU tensors, GradScaler state', c['scaler'])" "$OUT/cls-amp/checkpoint.pt"
train detection "${SCENES[@]}" -b 8 --amp --epochs 2 --stop-after-epoch 1 --output-dir "$OUT/det-amp"
train detection "${SCENES[@]}" -b 8 --amp --epochs 2 --output-dir "$OUT/det-amp" --resume "$OUT/det-amp/checkpoint.pt"
train segmentation "${SCENES[@]}" -b 16 --amp --epochs 2 --output-dir "$OUT/seg-amp"

echo "== 2. channels-last"
train classification "${SHAPES[@]}" --amp --channels-last --epochs 1 --output-dir "$OUT/cls-cl"
train segmentation "${SCENES[@]}" -b 16 --amp --channels-last --epochs 1 --output-dir "$OUT/seg-cl"

echo "== 3. torchrun on 1 GPU (NCCL), --sync-bn, then resumed without torchrun"
"$PY" -m torch.distributed.run --standalone --nproc_per_node=1 -m mnv3lib.train classification "${SHAPES[@]}" --amp --sync-bn \
    --epochs 2 --stop-after-epoch 1 --output-dir "$OUT/cls-ddp"
train classification "${SHAPES[@]}" --amp --epochs 2 --output-dir "$OUT/cls-ddp" --resume "$OUT/cls-ddp/checkpoint.pt"
if [ "$("$PY" -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
    "$PY" -m torch.distributed.run --standalone --nproc_per_node=2 -m mnv3lib.train segmentation "${SCENES[@]}" -b 8 --amp --sync-bn \
        --epochs 1 --output-dir "$OUT/seg-ddp2"
fi

echo "== 4. classification training throughput, engine against a bare loop (AMP off, then on)"
BENCH=(--device cuda --model mobilenet_v3_large --images 8192 --image-size 128 --crop 112 --batch-size 256 --workers 8 --rounds 3)
"$PY" benchmarks/throughput.py "${BENCH[@]}"
"$PY" benchmarks/throughput.py "${BENCH[@]}" --amp
"$PY" benchmarks/throughput.py "${BENCH[@]}" --amp --channels-last
echo "gpu_check: every CUDA path ran"

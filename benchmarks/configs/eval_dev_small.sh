#!/usr/bin/env bash
# The small evaluation of benchmarks/RESULTS.md: 4 Kodak photos as 10-frame moving clips at 256x192,
# AWGN sigma 25 and H.264 CRF 37, every peer available here, peers tuned on kodim05 (cached).
# Usage: benchmarks/configs/eval_dev_small.sh [KODAK_DIR] [OUT_DIR] [extra eval args, e.g. --model weights.safetensors]
set -euo pipefail
KODAK=${1:-../shared/data/dev/kodak24}
OUT=${2:-runs/eval_dev_small}
shift $(( $# < 2 ? $# : 2 ))
vidrestore eval "$KODAK" --out "$OUT" --frames 10 --size 256x192 --max-clips 4 \
    --degradations awgn25,h264_crf37 "$@"

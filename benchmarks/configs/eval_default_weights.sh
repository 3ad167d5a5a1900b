#!/usr/bin/env bash
# The evaluation of the shipped `default` weights (issue #7 targets), as in benchmarks/RESULTS.md:
#  1. Kodak, all 24 photos as 10-frame 256x192 moving clips, AWGN sigma 25 and H.264 CRF 37, every peer;
#  2. the three dev videos, first 10 frames downscaled x1/2, H.264 CRF 37 and AWGN sigma 25, every peer;
#  3. quality/speed over DiT sampling steps (model only, Kodak 1-4).
# Usage: benchmarks/configs/eval_default_weights.sh [DATA_DIR] [OUT_DIR] [MODEL]
set -euo pipefail
DATA=${1:-../shared/data/dev}
OUT=${2:-runs/eval_default}
MODEL=${3:-default}
vidrestore eval "$DATA/kodak24" --out "$OUT/kodak" --frames 10 --size 256x192 \
    --degradations awgn25,h264_crf37 --model "$MODEL" --quiet
vidrestore eval "$DATA/video" --out "$OUT/video" --frames 10 --downscale 2 \
    --degradations h264_crf37,awgn25 --model "$MODEL" --quiet
for steps in 1 2 4 8; do
  vidrestore eval "$DATA/kodak24" --out "$OUT/steps$steps" --frames 10 --size 256x192 --max-clips 4 \
      --degradations awgn25,h264_crf37 --methods input,model --model "$MODEL" --steps "$steps" --no-tof --quiet
done

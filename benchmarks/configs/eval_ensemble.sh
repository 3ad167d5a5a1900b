#!/usr/bin/env bash
# The quality mode (--ensemble N: the model averaged over N flips/transposes of each tile) of the shipped
# default weights at AWGN sigma 25, model only (the peers' rows are those of eval_default_weights.sh: same
# clips, same frames, same seed):
#
#   bash benchmarks/configs/eval_ensemble.sh [DATA=../shared/data/dev] [OUT=runs/eval_ensemble] [MODEL=default] ["KODAK_N=2 4 8"] ["VIDEO_N=4"]
#
# Kodak 24 as 10-frame 256x192 moving clips, and the dev videos' first 10 frames downscaled x1/2, as in
# eval_default_weights.sh. Each N costs N times the model's time (~13 min for N = 2, 4, 8 on Kodak on a 2-core CPU).
set -euo pipefail
DATA=${1:-../shared/data/dev}
OUT=${2:-runs/eval_ensemble}
MODEL=${3:-default}
for n in ${4:-2 4 8}; do
  vidrestore eval "$DATA/kodak24" --out "$OUT/kodak_ens$n" --frames 10 --size 256x192 \
      --degradations awgn25 --methods input,model --model "$MODEL" --ensemble "$n" --no-tof --quiet
done
for n in ${5:-4}; do
  vidrestore eval "$DATA/video" --out "$OUT/video_ens$n" --frames 10 --downscale 2 \
      --degradations awgn25 --methods input,model --model "$MODEL" --ensemble "$n" --no-tof --quiet
done

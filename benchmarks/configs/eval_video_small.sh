#!/usr/bin/env bash
# Real footage: the first 10 frames of a video, downscaled x1/2 (cleaner source), AWGN sigma 25.
# Usage: benchmarks/configs/eval_video_small.sh VIDEO [OUT_DIR] [extra eval args]
set -euo pipefail
VIDEO=${1:?usage: $0 VIDEO [OUT_DIR] [args]}
OUT=${2:-runs/eval_video_small}
shift $(( $# < 2 ? $# : 2 ))
vidrestore eval "$VIDEO" --out "$OUT" --frames 10 --downscale 2 --degradations awgn25 "$@"

#!/usr/bin/env bash
# CUDA throughput: 360p/720p/1080p, fp32/bf16/fp16, untiled and 512-px tiles, FLOPs per frame,
# pipeline peak RSS on 100 vs 1000 frames of 640x360.
set -euo pipefail
vidrestore bench --sizes 640x360,1280x720,1920x1080 --frames 16 --repeats 2 --tiles untiled,512 \
    --device cuda --rss-frames 100,1000 --rss-size 640x360 --out "${1:-runs/bench_gpu.md}" "${@:2}"

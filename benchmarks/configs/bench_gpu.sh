#!/usr/bin/env bash
# CUDA throughput of the shipped weights at 360p/720p/1080p (fp32, bf16; FLOPs per frame), then the pipeline's
# peak RSS on 100 vs 1000 frames of 640x360 (bf16). This is the reduced run in benchmarks/RESULTS.md, sized for a
# 15-minute device lease (~3 min in all); with more time, add --repeats 3 (steady state), fp16 and --tiles untiled,512.
set -euo pipefail
OUT=${1:-runs/bench_gpu}
vidrestore bench --sizes 640x360,1280x720,1920x1080 --frames 12 --repeats 1 --precisions fp32,bf16 --tiles untiled \
    --no-pipeline --no-nlmeans --rss-frames '' --device cuda --out "$OUT.md" -q "${@:2}"
vidrestore bench --sizes 640x360 --frames 8 --precisions bf16 --tiles untiled --no-nlmeans \
    --device cuda --rss-frames 100,1000 --rss-size 640x360 --out "$OUT-rss.md" -q "${@:2}"

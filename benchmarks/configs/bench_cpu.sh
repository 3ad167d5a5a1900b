#!/usr/bin/env bash
# CPU throughput: 256x192 and 640x360, fp32/bf16, untiled and 128-px tiles, pipeline peak RSS on 100 vs 1000 frames.
set -euo pipefail
vidrestore bench --sizes 256x192,640x360 --frames 8 --out "${1:-runs/bench_cpu.md}" "${@:2}"

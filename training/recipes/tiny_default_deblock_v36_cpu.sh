#!/usr/bin/env bash
# The deblock stage of `default` v0.36 (2026-12-01): the v0.35 file's deblock head trained 3000 more steps on a pool
# twice as large (pool=12000: the 6000 clips v0.34/v0.35 learnt from plus 6000 new ones; the same degradations),
# 20 % of the crops clean, the per-frame noise weight on; every other tensor and the inference settings stay v0.35's
# (a second cycle on the old pool alone had gained only +0.02 dB: the head had about used up those clips):
#
#   INIT=<the v0.35 weights (vidrestore/weights/default.safetensors at the commit that shipped v0.35)> \
#     bash training/recipes/tiny_default_deblock_v36_cpu.sh
#
# It resumes from its last checkpoint (every 500 steps) when rerun with the same RUN; POOL caches the clip pool (5.9 GB
# on disk and in memory; drawn in ~2 min by two DataLoader workers).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.35 weights (see above)}"
PY=${PY:-python}
RUN=${RUN:-runs/deblock_v36}
$PY training/train_deblock.py init="$INIT" run_dir="$RUN" steps=3000 lr=2e-4 warmup_steps=50 seed=4 clean_share=0.2 \
  pool=12000 noise_weight=true resume=auto pool_cache="${POOL:-$RUN/pool.safetensors}" "$@"

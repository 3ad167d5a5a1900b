#!/usr/bin/env bash
# The deblock stage of `default` v0.35 (2026-12-01): the v0.34 file's deblock head trained 3000 more steps with 20 % of
# its crops clean (input = target: the head learns to leave uncompressed frames alone), from the same kind of pool,
# with the per-frame noise weight on; every other tensor and the inference settings stay v0.34's:
#
#   INIT=<the v0.34 weights (vidrestore/weights/default.safetensors at the commit that shipped v0.34)> \
#     bash training/recipes/tiny_default_deblock_v35_cpu.sh
#
# It resumes from its last checkpoint (every 500 steps) when rerun with the same RUN; POOL caches the clip pool (2.9 GB;
# the v0.34 run's cache can be reused: the pool does not depend on clean_share).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.34 weights (see above)}"
PY=${PY:-python}
RUN=${RUN:-runs/deblock_v35}
$PY training/train_deblock.py init="$INIT" run_dir="$RUN" steps=3000 lr=2e-4 warmup_steps=50 seed=2 clean_share=0.2 \
  noise_weight=true resume=auto pool_cache="${POOL:-$RUN/pool.safetensors}" "$@"

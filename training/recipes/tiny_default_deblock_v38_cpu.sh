#!/usr/bin/env bash
# The deblock stage of `default` v0.38 (2026-12-01; trained as the "v0.37b" probe, training/RUNS.md): the v0.37 file's
# deblock head trained 3000 more steps on 12000 clips it had never seen (pool_offset=24000: clips 24000..35999 of the
# same data chain; v0.34-v0.36 learnt from clips 0..11999, v0.37 from 12000..23999), 20 % of the crops clean, the
# per-frame noise weight on; every other tensor and the inference settings stay v0.37's:
#
#   INIT=<the v0.37 weights (vidrestore/weights/default.safetensors at the commit that shipped v0.37)> \
#     bash training/recipes/tiny_default_deblock_v38_cpu.sh
#
# It resumes from its last checkpoint (every 500 steps) when rerun with the same RUN; POOL caches the clip pool (5.9 GB
# on disk and in memory; drawn in ~2 min by two DataLoader workers).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.37 weights (see above)}"
PY=${PY:-python}
RUN=${RUN:-runs/deblock_v38}
$PY training/train_deblock.py init="$INIT" run_dir="$RUN" steps=3000 lr=2e-4 warmup_steps=50 seed=6 clean_share=0.2 \
  pool=12000 pool_offset=24000 noise_weight=true resume=auto pool_cache="${POOL:-$RUN/pool.safetensors}" "$@"

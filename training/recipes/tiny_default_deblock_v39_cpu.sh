#!/usr/bin/env bash
# The deblock stage of `default` v0.39 (2026-12-01): the v0.38 file's deblock head trained two more 3000-step cycles,
# each on 12000 clips no earlier cycle had seen (pool_offset 36000, then 48000, of the same data chain; v0.34-v0.38
# learnt from clips 0..35999), the second starting from the first's export, seeds 7 and 8; otherwise v0.38's cycle
# (20 % of the crops clean, the per-frame noise weight on); every other tensor and the inference settings stay v0.38's.
# (A third cycle, pool_offset=60000 seed 9, gained on Kodak and lost on the dev videos: not shipped; training/RUNS.md.)
#
#   INIT=<the v0.38 weights (vidrestore/weights/default.safetensors at the commit that shipped v0.38)> \
#     bash training/recipes/tiny_default_deblock_v39_cpu.sh
#
# Each cycle resumes from its last checkpoint (every 500 steps) when rerun with the same RUN; its pool is cached in
# its run folder (5.9 GB on disk and in memory each; drawn in ~3 min by two DataLoader workers; delete a cycle's pool
# once it is done). The last cycle's export is the v0.39 file: $RUN/c48000/export.safetensors.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.38 weights (see above)}"
PY=${PY:-python}
RUN=${RUN:-runs/deblock_v39}
init=$INIT
for cycle in "36000 7" "48000 8"; do
  set -- $cycle
  $PY training/train_deblock.py init="$init" run_dir="$RUN/c$1" steps=3000 lr=2e-4 warmup_steps=50 seed="$2" \
    clean_share=0.2 pool=12000 pool_offset="$1" noise_weight=true resume=auto pool_cache="$RUN/c$1/pool.safetensors"
  init=$RUN/c$1/export.safetensors
done

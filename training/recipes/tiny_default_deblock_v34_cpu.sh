#!/usr/bin/env bash
# The deblock stage of `default` v0.34 (2026-12-01): the v0.33 file with its deblock head switched on
# (decoder.deblock_head: 48 channels, 6 ResBlocks at H/2, reading frames t-1, t, t+1 aligned onto t) and trained
# alone, everything else frozen (training/train_deblock.py with configs/train/deblock.yaml as it stands: a pool of
# 6000 compressed CBSD432 clips drawn once, 8000 steps of 16 crops of 96x96, Charbonnier loss, LR 4e-4 cosine),
# exported fp16 with v0.33's tensors and inference settings unchanged. The head learnt before the model weighted it per
# frame by the estimated noise (decoder.deblock_noise), and before it saw clean frames, hence noise_weight=false
# clean_share=0 here:
#
#   INIT=<the v0.33 weights (vidrestore/weights/default.safetensors at the commit that shipped v0.33)> \
#     bash training/recipes/tiny_default_deblock_v34_cpu.sh
#
# It resumes from its last checkpoint (every 500 steps) when rerun with the same RUN; the clip pool (2.9 GB) is
# cached in POOL (default: inside RUN) so a resumed run does not draw it again.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.33 weights (see above)}"
PY=${PY:-python}
RUN=${RUN:-runs/deblock_v34}
$PY training/train_deblock.py init="$INIT" run_dir="$RUN" steps=8000 noise_weight=false clean_share=0 resume=auto pool_cache="${POOL:-$RUN/pool.safetensors}" "$@"

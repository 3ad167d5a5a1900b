#!/usr/bin/env bash
# The deblock stage of `default` v0.36 (2026-12-01): the v0.33 file with a wider, deeper deblock head that reads two
# frames on each side (decoder.deblock_head: 64 channels, 8 ResBlocks at H/2, frames t-2..t+2 aligned onto t,
# 1.0 M parameters; v0.34/v0.35: 48 channels, 6 blocks, t-1..t+1, 0.38 M, whose validation PSNR had saturated) trained
# alone from scratch, everything else frozen (training/train_deblock.py, configs/train/deblock.yaml as it stands: the
# same pool of 6000 compressed CBSD432 clips, 16 crops of 96x96 per step, 20 % of them clean, Charbonnier loss, LR 4e-4
# cosine), exported fp16 with v0.33's tensors and inference settings unchanged:
#
#   INIT=<the v0.33 weights (vidrestore/weights/default.safetensors at the commit that shipped v0.33)> \
#     bash training/recipes/tiny_default_deblock_v36_cpu.sh
#
# It resumes from its last checkpoint (every 500 steps) when rerun with the same RUN; the clip pool (2.9 GB) is
# cached in POOL (default: inside RUN) so a resumed run does not draw it again.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.33 weights (see above)}"
PY=${PY:-python}
RUN=${RUN:-runs/deblock_v36}
$PY training/train_deblock.py init="$INIT" run_dir="$RUN" steps=8000 seed=3 resume=auto pool_cache="${POOL:-$RUN/pool.safetensors}" \
  "model_overrides=[decoder.deblock_head=true,decoder.deblock_head_channels=64,decoder.deblock_head_blocks=8,decoder.deblock_frames=2]" "$@"

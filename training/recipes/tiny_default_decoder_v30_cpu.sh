#!/usr/bin/env bash
# The decoder stage of `default` v0.30: the v0.29 file (v0.27's decoder, guided refinement 0.2) trained one
# CPU cycle of v0.26's recipe (clips in all 8 orientations, step 1600 of a 2400-step cosine from 1e-4; seed 220)
# with every loss taken after the guided refinement (loss.refine=0.2), so the decoder learns around the filter
# that inference applies; exported with that refinement and 16/4-frame windows (REFINE sets another strength, DETAIL
# a detail-pass weight (default 0 = off) and DETAIL_KERNEL its box, each for both the losses and the export; the v32
# and v33 recipes use them):
#
#   INIT=<the v0.29 weights (vidrestore/weights/default.safetensors at the commit that shipped v0.29)> \
#     bash training/recipes/tiny_default_decoder_v30_cpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.29 weights (see above)}"
PY=${PY:-python}
RUN=${RUN:-runs/decoder_v30}
REFINE=${REFINE:-0.2}
DETAIL=${DETAIL:-0}
DETAIL_KERNEL=${DETAIL_KERNEL:-9}
STEPS=${STEPS:-2400} RUN=$RUN SHIP=$RUN/export_12_2.safetensors bash training/recipes/tiny_default_decoder_v09_cpu.sh \
  seed=220 stop_at=1600 data.orientations=dihedral loss.refine=$REFINE loss.refine_detail=$DETAIL \
  loss.refine_detail_kernel=$DETAIL_KERNEL "$@"
$PY training/export_checkpoint.py "$RUN/ckpt/$(cat "$RUN/ckpt/latest")" ${SHIP:-vidrestore/weights/default.safetensors} \
  --inference-steps 1 --window 16 --window-overlap 4 --refine $REFINE --refine-detail $DETAIL \
  --refine-detail-kernel $DETAIL_KERNEL

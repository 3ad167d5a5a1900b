#!/usr/bin/env bash
# The decoder stage of `default` v0.30: the v0.29 file (v0.27's decoder, guided refinement 0.2) trained one
# CPU cycle of v0.26's recipe (clips in all 8 orientations, step 1600 of a 2400-step cosine from 1e-4; seed 220)
# with every loss taken after the guided refinement (loss.refine=0.2), so the decoder learns around the filter
# that inference applies; exported with that refinement and 16/4-frame windows (REFINE sets another strength, for both;
# tiny_default_decoder_v32_cpu.sh uses that):
#
#   INIT=<the v0.29 weights (vidrestore/weights/default.safetensors at the commit that shipped v0.29)> \
#     bash training/recipes/tiny_default_decoder_v30_cpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.29 weights (see above)}"
PY=${PY:-python}
RUN=${RUN:-runs/decoder_v30}
REFINE=${REFINE:-0.2}
STEPS=${STEPS:-2400} RUN=$RUN SHIP=$RUN/export_12_2.safetensors bash training/recipes/tiny_default_decoder_v09_cpu.sh \
  seed=220 stop_at=1600 data.orientations=dihedral loss.refine=$REFINE "$@"
$PY training/export_checkpoint.py "$RUN/ckpt/$(cat "$RUN/ckpt/latest")" ${SHIP:-vidrestore/weights/default.safetensors} \
  --inference-steps 1 --window 16 --window-overlap 4 --refine $REFINE

#!/usr/bin/env bash
# The decoder stage of `default` v0.32 (next cycle; started 2026-12-01, not finished in that session): the v0.31 file
# trained one more cycle of v0.30's recipe through the refinement strength v0.31 ships (loss.refine=0.25; v0.30 and
# v0.31 trained through 0.2), seed 240, exported with that strength and 16/4-frame windows:
#
#   INIT=<the v0.31 weights (vidrestore/weights/default.safetensors at the commit that shipped v0.31)> \
#     bash training/recipes/tiny_default_decoder_v32_cpu.sh
#
# It resumes from its last checkpoint (every 200 steps) when rerun with the same RUN.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.31 weights (see above)}"
PY=${PY:-python}
RUN=${RUN:-runs/decoder_v32}
STEPS=${STEPS:-2400} RUN=$RUN SHIP=$RUN/export_12_2.safetensors bash training/recipes/tiny_default_decoder_v09_cpu.sh \
  seed=240 stop_at=1600 data.orientations=dihedral loss.refine=0.25 "$@"
$PY training/export_checkpoint.py "$RUN/ckpt/$(cat "$RUN/ckpt/latest")" ${SHIP:-vidrestore/weights/default.safetensors} \
  --inference-steps 1 --window 16 --window-overlap 4 --refine 0.25

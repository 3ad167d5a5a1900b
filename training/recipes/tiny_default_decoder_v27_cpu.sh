#!/usr/bin/env bash
# The decoder stage of the `default` weights v0.27 (in training): the v0.26 decoder (tiny_default_decoder_v26_cpu.sh) trained
# one more cycle of the same recipe (v0.9's data, mixture, losses and batch; fresh AdamW, cosine 1e-4 -> 1e-6 over
# 2400 steps, the pixel head at 5x; clips in any of the 8 flips/transposes) on fresh samples (seed 200), stopped at
# step 1600 of that schedule (stop_at), on the CPU. The file restores in 16-frame windows overlapping by 4 (the
# weights are those of the 12/2 export that the v0.9 recipe writes first; only the file's inference defaults differ):
#
#   INIT=<the v0.26 weights (training/RUNS.md, v0.26)> bash training/recipes/tiny_default_decoder_v27_cpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.26 weights (see above)}"
PY=${PY:-python}
RUN=${RUN:-runs/decoder_v27}
STEPS=${STEPS:-2400} RUN=$RUN bash training/recipes/tiny_default_decoder_v09_cpu.sh seed=200 stop_at=1600 \
  data.orientations=dihedral "$@"
$PY training/export_checkpoint.py "$RUN/ckpt/$(cat "$RUN/ckpt/latest")" ${SHIP:-vidrestore/weights/default.safetensors} \
  --inference-steps 1 --window 16 --window-overlap 4

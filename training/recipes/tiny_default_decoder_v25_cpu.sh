#!/usr/bin/env bash
# The decoder stage of the `default` weights v0.25 (a probe until it ships): the v0.24 decoder
# (tiny_default_decoder_v24_cpu.sh) trained on with the v0.12/v0.13 recipe (v0.9's data, mixture, losses and
# batch; fresh AdamW, cosine 1e-4 -> 1e-6 over 2400 steps, the pixel head at 5x, 12-frame export) on fresh
# samples (seed 180), stopped at step 1600 of that schedule (stop_at), on the CPU. New: the training clips take
# any of the 8 flips/transposes (data.orientations=dihedral; before: a left-right mirror half the time), so the
# single pass sees every orientation that the quality mode (--ensemble) averages over:
#
#   INIT=<the v0.24 weights (training/RUNS.md, v0.24)> bash training/recipes/tiny_default_decoder_v25_cpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.24 weights (see above)}"
STEPS=${STEPS:-2400} RUN=${RUN:-runs/decoder_v25} exec bash training/recipes/tiny_default_decoder_v09_cpu.sh seed=180 stop_at=1600 \
  data.orientations=dihedral "$@"

#!/usr/bin/env bash
# A CPU cycle run beside v0.22 (not shipped: it gained nothing; v0.22 is tiny_default_decoder_v22g_gpu.sh), see
# training/RUNS.md. The v0.21 decoder (tiny_default_decoder_v21_cpu.sh) trained
# on with the v0.12/v0.13 recipe (v0.9's data, mixture, losses and batch; fresh AdamW, cosine 1e-4 -> 1e-6 over
# 2400 steps, the pixel head at 5x, 12-frame export) on fresh samples (seed 130), stopped at step 1600 of that
# schedule (stop_at), on the CPU:
#
#   INIT=<the v0.21 weights (training/RUNS.md, v0.21)> bash training/recipes/tiny_default_decoder_v22_cpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.21 weights (see above)}"
STEPS=${STEPS:-2400} RUN=${RUN:-runs/decoder_v22} exec bash training/recipes/tiny_default_decoder_v09_cpu.sh seed=130 stop_at=1600 "$@"

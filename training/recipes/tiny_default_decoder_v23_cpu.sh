#!/usr/bin/env bash
# The decoder stage of the `default` weights v0.23: the v0.22 decoder (tiny_default_decoder_v22g_gpu.sh) trained
# on with the v0.12/v0.13 recipe (v0.9's data, mixture, losses and batch; fresh AdamW, cosine 1e-4 -> 1e-6 over
# 2400 steps, the pixel head at 5x, 12-frame export) on fresh samples (seed 160), stopped at step 1600 of that
# schedule (stop_at), on the CPU:
#
#   INIT=<the v0.22 weights (training/RUNS.md, v0.22)> bash training/recipes/tiny_default_decoder_v23_cpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.22 weights (see above)}"
STEPS=${STEPS:-2400} RUN=${RUN:-runs/decoder_v23} exec bash training/recipes/tiny_default_decoder_v09_cpu.sh seed=160 stop_at=1600 "$@"

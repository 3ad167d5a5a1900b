#!/usr/bin/env bash
# The decoder stage of the `default` weights v0.13: the v0.12 decoder (tiny_default_decoder_v12_cpu.sh) trained
# on with the same recipe once more (v0.9's data, mixture, losses and batch; fresh AdamW, cosine 1e-4 -> 1e-6
# over 2400 steps, the pixel head at 5x, 12-frame export), on fresh samples (seed 40; v0.12 read seed 30),
# stopped at step 1600 of that schedule (stop_at), on the CPU:
#
#   INIT=<the v0.12 weights, e.g. vidrestore/weights/default.safetensors at 65a55dc> bash training/recipes/tiny_default_decoder_v13_cpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.12 weights (see above)}"
STEPS=${STEPS:-2400} RUN=${RUN:-runs/decoder_v13} exec bash training/recipes/tiny_default_decoder_v09_cpu.sh seed=40 stop_at=1600 "$@"

#!/usr/bin/env bash
# The decoder stage of the `default` weights v0.12: the v0.11 decoder (tiny_default_decoder_v11_cpu.sh) trained
# on with the same recipe once more (v0.9's data, mixture, losses and batch; fresh AdamW, cosine 1e-4 -> 1e-6
# over 2400 steps, the pixel head at 5x, 12-frame export), on fresh samples (seed 30; v0.11 read seed 20),
# stopped at step 1600 of that schedule (stop_at; the run's validation peaked there, see training/RUNS.md):
#
#   INIT=<the v0.11 weights, e.g. vidrestore/weights/default.safetensors at 107ce92> bash training/recipes/tiny_default_decoder_v12_cpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.11 weights (see above)}"
STEPS=${STEPS:-2400} RUN=${RUN:-runs/decoder_v12} exec bash training/recipes/tiny_default_decoder_v09_cpu.sh seed=30 stop_at=1600 "$@"

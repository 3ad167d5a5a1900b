#!/usr/bin/env bash
# The decoder stage of the `default` weights v0.11: the v0.10 decoder (tiny_default_decoder_v10_gpu.sh, one GPU)
# trained on with the v0.9 CPU recipe as it is (batch 4, fresh AdamW, cosine 1e-4 -> 1e-6, pixel head at 5x,
# 12-frame export), over 2400 steps and on fresh samples (seed 20; v0.9 read seed 0, v0.10 seed 10):
#
#   INIT=<the v0.10 weights, e.g. vidrestore/weights/default.safetensors at e8111a0> bash training/recipes/tiny_default_decoder_v11_cpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.10 weights (see above)}"
STEPS=${STEPS:-2400} RUN=${RUN:-runs/decoder_v11} exec bash training/recipes/tiny_default_decoder_v09_cpu.sh seed=20 "$@"

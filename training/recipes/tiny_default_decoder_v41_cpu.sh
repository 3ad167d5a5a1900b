#!/usr/bin/env bash
# The decoder stage of `default` v0.41 (2026-12-02): the v0.40 file trained one more cycle of the same recipe as v0.40
# (v0.34's decoder recipe through v0.33's whole refinement, deblock head frozen: lr_mults.deblock_head=0), seed 280:
#
#   git show adeed4d:vidrestore/weights/default.safetensors > v040.safetensors   # the v0.40 file
#   INIT=v040.safetensors RUN=runs/decoder_v41 bash training/recipes/tiny_default_decoder_v41_cpu.sh
#
# 1600 steps, ~4 s/step on a 2-core CPU (~110 min); it resumes from its last checkpoint (every 200 steps) when rerun
# with the same RUN, and its last step exports the EMA weights to vidrestore/weights/default.safetensors (set SHIP to
# write elsewhere).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.40 weights (see above)}"
exec bash training/recipes/tiny_default_decoder_v40_cpu.sh seed=280 "$@"

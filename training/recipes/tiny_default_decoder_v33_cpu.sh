#!/usr/bin/env bash
# The decoder stage of `default` v0.33 (2026-12-01; shipped as exported, no retune):
# the v0.32 file trained one more cycle of v0.30's recipe through the whole refinement v0.32 ships, its detail pass
# included (strength 0.3, detail 0.45 in an 11x11 box, for the losses and the export), seed 250 (the later seed= wins
# over the recipe's own):
#
#   INIT=<the v0.32 weights (vidrestore/weights/default.safetensors at the commit that shipped v0.32)> \
#     bash training/recipes/tiny_default_decoder_v33_cpu.sh
#
# It resumes from its last checkpoint (every 200 steps) when rerun with the same RUN.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.32 weights (see above)}"
RUN=${RUN:-runs/decoder_v33} REFINE=${REFINE:-0.3} DETAIL=${DETAIL:-0.45} DETAIL_KERNEL=${DETAIL_KERNEL:-11} exec bash training/recipes/tiny_default_decoder_v30_cpu.sh seed=250 "$@"

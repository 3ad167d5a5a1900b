#!/usr/bin/env bash
# The decoder stage of `default` v0.32 (next cycle; started 2026-12-01, not finished in that session): the v0.31 file
# trained one more cycle of v0.30's recipe through the refinement strength v0.31 ships (REFINE=0.25 for the loss and
# the export; v0.30 and v0.31 trained through 0.2), seed 240 (the later seed= wins over the recipe's own):
#
#   INIT=<the v0.31 weights (vidrestore/weights/default.safetensors at the commit that shipped v0.31)> \
#     bash training/recipes/tiny_default_decoder_v32_cpu.sh
#
# It resumes from its last checkpoint (every 200 steps) when rerun with the same RUN.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.31 weights (see above)}"
RUN=${RUN:-runs/decoder_v32} REFINE=0.25 exec bash training/recipes/tiny_default_decoder_v30_cpu.sh seed=240 "$@"

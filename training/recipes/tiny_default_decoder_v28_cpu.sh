#!/usr/bin/env bash
# A probe, not shipped (training/RUNS.md, v0.28: it gained nothing over v0.27): the v0.27 decoder trained one more cycle of v0.26's
# recipe (tiny_default_decoder_v26_cpu.sh: clips in all 8 orientations, step 1600 of a 2400-step cosine, a 16/4-window
# export) on fresh samples (seed 210; the later seed= wins over the recipe's own):
#
#   INIT=<the v0.27 weights (training/RUNS.md, v0.27)> bash training/recipes/tiny_default_decoder_v28_cpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.27 weights (see above)}"
RUN=${RUN:-runs/decoder_v28} exec bash training/recipes/tiny_default_decoder_v26_cpu.sh seed=210 "$@"

#!/usr/bin/env bash
# The decoder stage of `default` v0.31: the v0.30 file trained one more cycle of v0.30's recipe
# (tiny_default_decoder_v30_cpu.sh: every loss after the guided refinement, loss.refine=0.2; clips in all 8
# orientations, step 1600 of a 2400-step cosine) on fresh samples (seed 230; the later seed= wins over the recipe's own):
#
#   INIT=<the v0.30 weights (training/RUNS.md, v0.30)> bash training/recipes/tiny_default_decoder_v31_cpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.30 weights (see above)}"
RUN=${RUN:-runs/decoder_v31} exec bash training/recipes/tiny_default_decoder_v30_cpu.sh seed=230 "$@"

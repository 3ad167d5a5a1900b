#!/usr/bin/env bash
# The decoder stage of `default` v0.40 (2026-12-02): the v0.39 file trained one more cycle of v0.34's decoder recipe
# (v0.30's recipe through v0.33's whole refinement: strength 0.3, detail 0.45 in an 11x11 box), seed 270, with the
# deblock head frozen (lr_mults.deblock_head=0: its tensors and their EMA stay bit for bit v0.39's, so what it learnt on
# compressed clips is not eroded by the blind mixture, as it was in v0.34c's cycle) and every other part learning:
#
#   git show 339bbe8:vidrestore/weights/default.safetensors > v039.safetensors   # the v0.39 file
#   INIT=v039.safetensors RUN=runs/decoder_v40 bash training/recipes/tiny_default_decoder_v40_cpu.sh
#
# 1600 steps, ~3.6-4 s/step on a
# 2-core CPU (~100 min); it resumes from its last checkpoint (every 200 steps) when rerun with the same RUN, and its
# last step exports the EMA weights to vidrestore/weights/default.safetensors (set SHIP to write elsewhere).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.39 weights (see above)}"
exec bash training/recipes/tiny_default_decoder_v34_cpu.sh seed=270 lr_mults.deblock_head=0 "$@"

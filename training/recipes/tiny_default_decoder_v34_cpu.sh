#!/usr/bin/env bash
# The decoder stage of `default` v0.34 (2026-12-01): the deblock export (tiny_default_deblock_v34_cpu.sh: v0.33 with
# its deblock head trained alone) trained one more cycle of v0.30's recipe through v0.33's whole refinement
# (strength 0.3, detail 0.45 in an 11x11 box), seed 260, every part of the decoder learning, the deblock head
# included (at the recipe's LR: on the blind mixture it now learns what the fallback gate makes of it):
#
#   INIT=<runs/deblock_v34/export.safetensors> bash training/recipes/tiny_default_decoder_v34_cpu.sh
#
# It resumes from its last checkpoint (every 200 steps) when rerun with the same RUN.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the export of the deblock stage (see above)}"
RUN=${RUN:-runs/decoder_v34} REFINE=${REFINE:-0.3} DETAIL=${DETAIL:-0.45} DETAIL_KERNEL=${DETAIL_KERNEL:-11} exec bash training/recipes/tiny_default_decoder_v30_cpu.sh seed=260 "$@"

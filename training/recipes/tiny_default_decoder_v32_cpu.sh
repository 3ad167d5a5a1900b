#!/usr/bin/env bash
# The decoder stage of `default` v0.32: the v0.31 file trained one more cycle of v0.30's recipe through the refinement
# strength v0.31 ships (REFINE=0.25 for the loss and the export; v0.30 and v0.31 trained through 0.2), seed 240 (the
# later seed= wins over the recipe's own). The shipped file is this export with its refinement then retuned on
# training photos, the new detail pass included (strength 0.3, detail 0.45, 11x11 detail box):
#
#   INIT=<the v0.31 weights (vidrestore/weights/default.safetensors at the commit that shipped v0.31)> \
#     bash training/recipes/tiny_default_decoder_v32_cpu.sh
#   python training/tune_refine.py --model vidrestore/weights/default.safetensors --strengths 0.2,0.25,0.3 \
#     --kernels 5 --passes 2 --details 0.3,0.45,0.6 --detail-kernels 7,9,11 --write
#
# It resumes from its last checkpoint (every 200 steps) when rerun with the same RUN.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.31 weights (see above)}"
RUN=${RUN:-runs/decoder_v32} REFINE=0.25 exec bash training/recipes/tiny_default_decoder_v30_cpu.sh seed=240 "$@"

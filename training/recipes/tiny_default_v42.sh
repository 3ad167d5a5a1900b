#!/usr/bin/env bash
# `default` v0.42 (2026-12-02): the v0.41 file, every tensor unchanged, with the temporal mean on compressed frames
# switched on (decoder.deblock_temporal = kappa 4, decoder.deblock_temporal_max 0.04: no weights of its own):
#
#   git show 261057e:vidrestore/weights/default.safetensors > v041.safetensors   # the v0.41 file
#   IN=v041.safetensors bash training/recipes/tiny_default_v42.sh
#
# It writes vidrestore/weights/default.safetensors (set OUT to write elsewhere); seconds, no training.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${IN:?set IN to the v0.41 weights (see above)}"
python training/set_inference.py "$IN" --out "${OUT:-vidrestore/weights/default.safetensors}" --deblock-temporal 4

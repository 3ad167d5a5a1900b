#!/usr/bin/env bash
# The decoder stage of the `default` weights v0.10 on one GPU: the v0.9 decoder trained on with the v0.9 recipe
# (tiny_default_decoder_v09_cpu.sh: data, mixture, losses, pixel head at 5x, 12-frame export) on a GPU, with 4x
# larger batches (16 clips of 5 frames, 128x128) at twice the LR (2e-4 cosine -> 1e-6), 200 warm-up steps, fresh
# samples (seed 10), TF32 matrix products and 14 loader workers.
# STEPS sets the length of the cosine. The shipped v0.10 ran on one H200 with STEPS=1500 and stopped at its time
# limit at step 1327 (LR then 1e-5; 0.26 s/step); `stop_at=1327` reproduces that (training/RUNS.md, v0.10):
#
#   INIT=<the v0.9 weights, e.g. vidrestore/weights/default.safetensors at 18af2de> STEPS=1500 \
#     bash training/recipes/tiny_default_decoder_v10_gpu.sh stop_at=1327
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.9 weights (see above)}"
: "${STEPS:?set STEPS}"
export STEPS RUN=${RUN:-runs/decoder_v10} DEVICE=${DEVICE:-cuda} PRECISION=${PRECISION:-tf32} THREADS=${THREADS:-0} WORKERS=${WORKERS:-14}
exec bash training/recipes/tiny_default_decoder_v09_cpu.sh seed=10 batch_size=${BATCH:-16} lr=${LR:-2e-4} \
  warmup_steps=${WARMUP:-200} checkpoint_every=${CKPT_EVERY:-500} val_every=${VAL_EVERY:-500} "$@"

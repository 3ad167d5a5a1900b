#!/usr/bin/env bash
# The decoder stage of the `default` weights v0.10 on one GPU: the v0.9 decoder (tiny_default_decoder_v09_cpu.sh)
# trained on with the v0.9 data, mixture and losses, 4x larger batches (16 clips of 5 frames, 128x128) at twice
# the LR (2e-4 cosine -> 1e-6; the pixel head at 5x), fresh samples (seed 10), TF32 matrix products, 14 loader workers.
# STEPS sets the length of the cosine. The shipped v0.10 ran on one H200 with STEPS=1500 and stopped at its time
# limit at step 1327 (LR then 1e-5; 0.26 s/step); `stop_at=1327` reproduces that (training/RUNS.md, v0.10):
#
#   INIT=<the v0.9 weights, e.g. vidrestore/weights/default.safetensors at 18af2de> STEPS=1500 \
#     bash training/recipes/tiny_default_decoder_v10_gpu.sh stop_at=1327
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python}
RUN=${RUN:-runs/decoder_v10}
STEPS=${STEPS:?set STEPS}
$PY training/finetune_decoder.py init=${INIT:?set INIT to the v0.9 weights (see above)} reset_decoder=false \
  lr_mults.pixel_head=5 seed=10 \
  model=tiny run_dir=$RUN resume=auto device=${DEVICE:-cuda} precision=${PRECISION:-tf32} \
  threads=${THREADS:-0} workers=${WORKERS:-14} batch_size=${BATCH:-16} data.size=[128,128] data.root=${DATA_ROOT:-../shared/data} \
  data.motion.objects.p=0.5 data.motion.objects.max_count=3 data.motion.objects.max_speed=8.0 \
  steps=$STEPS lr=${LR:-2e-4} lr_schedule=cosine lr_min=1e-6 warmup_steps=${WARMUP:-200} \
  loss.perceptual=ssim loss.perceptual_weight=0.1 loss.temporal=0.25 loss.aux_rgb=1.0 loss.gan_start=100000000 \
  loss.no_harm=0.05 \
  checkpoint_every=${CKPT_EVERY:-500} keep_checkpoints=2 val_every=${VAL_EVERY:-500} val_batches=4 image_every=1000000 log_every=25 \
  export_dtype=fp16 progress=false tensorboard=false \
  data.degradation.p_clean=0.1 \
  data.degradation.noise.p=0.75 data.degradation.compression.p_codec=0.5 data.degradation.compression.p_jpeg=0.1 \
  data.degradation.blur.p=0.15 data.degradation.resize.p=0.15 "$@"
# The shipped file: the EMA weights of the last checkpoint (= the run's export), fp16, 1 DiT step, 12-frame windows.
$PY training/export_checkpoint.py "$RUN/ckpt/$(cat "$RUN/ckpt/latest")" ${SHIP:-vidrestore/weights/default.safetensors} \
  --inference-steps 1 --window 12 --window-overlap 2

#!/usr/bin/env bash
# The decoder stage of the `default` weights v0.8: the v0.7 decoder (tiny_default_decoder_v07_cpu.sh) plus a
# pixel head (decoder.pixel_head: a residual CNN at H/2, 48 channels, 4 ResBlocks, zero-init output) that
# refines the output from the output itself, the degraded frame and the four aligned neighbours the output
# filter reads. The head starts fresh and learns at 5x the LR of the trained rest (lr_fresh_mult=5).
# Same data, mixture and losses as v0.5-v0.7; fresh AdamW, cosine 1e-4 -> 1e-6 over 4400 steps. The shipped
# file stopped at step 4000 (the extra argument below; training/RUNS.md says why):
#
#   INIT=<the v0.7 weights, e.g. vidrestore/weights/default.safetensors at 48e6967> bash training/recipes/tiny_default_decoder_v08_cpu.sh stop_at=4000
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python}
RUN=${RUN:-runs/decoder_v08}
$PY training/finetune_decoder.py init=${INIT:?set INIT to the v0.7 weights (see above)} reset_decoder=false \
  "model_overrides=[decoder.pixel_head=true]" lr_fresh_mult=5 \
  model=tiny run_dir=$RUN resume=auto device=${DEVICE:-cpu} precision=${PRECISION:-fp32} \
  threads=${THREADS:-2} workers=${WORKERS:-1} batch_size=4 data.size=[128,128] data.root=${DATA_ROOT:-../shared/data} \
  data.motion.objects.p=0.5 data.motion.objects.max_count=3 data.motion.objects.max_speed=8.0 \
  steps=${STEPS:-4400} lr=1e-4 lr_schedule=cosine lr_min=1e-6 warmup_steps=100 \
  loss.perceptual=ssim loss.perceptual_weight=0.1 loss.temporal=0.25 loss.aux_rgb=1.0 loss.gan_start=100000000 \
  loss.no_harm=0.05 \
  checkpoint_every=200 keep_checkpoints=2 val_every=500 val_batches=4 image_every=1000000 log_every=25 \
  export_dtype=fp16 progress=false tensorboard=false \
  data.degradation.p_clean=0.1 \
  data.degradation.noise.p=0.75 data.degradation.compression.p_codec=0.5 data.degradation.compression.p_jpeg=0.1 \
  data.degradation.blur.p=0.15 data.degradation.resize.p=0.15 "$@"
# The shipped file: the EMA weights of the last checkpoint (= the run's export), fp16, 1 DiT step.
$PY training/export_checkpoint.py "$RUN/ckpt/$(cat "$RUN/ckpt/latest")" ${SHIP:-vidrestore/weights/default.safetensors} --inference-steps 1

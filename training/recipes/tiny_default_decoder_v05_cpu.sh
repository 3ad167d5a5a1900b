#!/usr/bin/env bash
# The decoder stage of the shipped `default` weights v0.5: the v0.4 decoder (tiny_default_decoder_v04_gpu.sh)
# trained on, on a 2-core CPU, on clips with independently moving objects (data.motion.objects: soft
# patches of the photo on their own paths at up to 8 px/frame, in half of the clips). Until v0.4 every
# training clip moved as one piece (camera motion of at most 2 px/frame), so the temporal layers learnt
# to blend neighbouring frames blindly and ghosted moving objects in real video. Same mixture and losses
# as v0.4 (no-harm 0.05, p_clean 0.1, no GAN), fresh AdamW, cosine 1e-4 -> 1e-6 over 4500 steps.
#
#   INIT=runs/v04_default.safetensors bash training/recipes/tiny_default_decoder_v05_cpu.sh
#   (runs/v04_default.safetensors: the SHIP= output of the v0.4 recipe, run with STEPS=2718 stop_at=2517)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python}
RUN=${RUN:-runs/decoder_v05}
$PY training/finetune_decoder.py init=${INIT:?set INIT to the v0.4 weights (see above)} reset_decoder=false \
  model=tiny run_dir=$RUN resume=auto device=${DEVICE:-cpu} precision=${PRECISION:-fp32} \
  threads=${THREADS:-2} workers=${WORKERS:-1} batch_size=4 data.size=[128,128] data.root=${DATA_ROOT:-../shared/data} \
  data.motion.objects.p=0.5 data.motion.objects.max_count=3 data.motion.objects.max_speed=8.0 \
  steps=4500 lr=1e-4 lr_schedule=cosine lr_min=1e-6 warmup_steps=100 \
  loss.perceptual=ssim loss.perceptual_weight=0.1 loss.temporal=0.25 loss.aux_rgb=1.0 loss.gan_start=100000000 \
  loss.no_harm=0.05 \
  checkpoint_every=200 keep_checkpoints=2 val_every=1500 val_batches=4 image_every=1000000 log_every=25 \
  export_dtype=fp16 progress=false tensorboard=false \
  data.degradation.p_clean=0.1 \
  data.degradation.noise.p=0.75 data.degradation.compression.p_codec=0.5 data.degradation.compression.p_jpeg=0.1 \
  data.degradation.blur.p=0.15 data.degradation.resize.p=0.15 "$@"
# The shipped file: the EMA weights of the last checkpoint (= the run's export), fp16, 1 DiT step.
$PY training/export_checkpoint.py "$RUN/ckpt/$(cat "$RUN/ckpt/latest")" ${SHIP:-vidrestore/weights/default.safetensors} --inference-steps 1

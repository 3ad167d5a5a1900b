#!/usr/bin/env bash
# The decoder stage of the shipped `default` weights v0.3: the v0.2 decoder (tiny_default_decoder_cpu.sh)
# trained on, on a 2-core CPU, with the motion gate on its output temporal filter switched on
# (decoder.out_gate, zero-init, so step 0 is exactly v0.2). One phase: the blind mixture (noise,
# H.264/H.265, JPEG, blur, down-up), no GAN, fresh AdamW, 100 warm-up steps, cosine 2e-4 -> 1e-6
# over 7000 steps. LP-VAE and DiT stay those of v0.1 (frozen).
# Resumable: run the same command again after an interruption (resume=auto).
#
#   git show 977da40:vidrestore/weights/default.safetensors > runs/v02_default.safetensors
#   INIT=runs/v02_default.safetensors bash training/recipes/tiny_default_decoder_v03_cpu.sh
#
# On a GPU add: device=cuda precision=bf16 workers=8 (the script's options, see --help).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python}
RUN=${RUN:-runs/decoder_v03}
$PY training/finetune_decoder.py init=${INIT:?set INIT to the v0.2 weights (see above)} reset_decoder=false \
  "model_overrides=[decoder.out_gate=true]" model=tiny run_dir=$RUN resume=auto \
  threads=${THREADS:-2} workers=${WORKERS:-1} batch_size=4 data.size=[128,128] data.root=${DATA_ROOT:-../shared/data} data.motion.objects.p=0 \
  steps=7000 lr=2e-4 lr_schedule=cosine lr_min=1e-6 warmup_steps=100 \
  loss.perceptual=ssim loss.perceptual_weight=0.1 loss.temporal=0.25 loss.aux_rgb=1.0 loss.gan_start=100000 \
  checkpoint_every=200 keep_checkpoints=2 val_every=500 val_batches=4 image_every=1000 log_every=25 \
  export_dtype=fp16 progress=false \
  data.degradation.noise.p=0.75 data.degradation.compression.p_codec=0.5 data.degradation.compression.p_jpeg=0.1 \
  data.degradation.blur.p=0.15 data.degradation.resize.p=0.15 "$@"
# The shipped file: the EMA weights of the last checkpoint (= the run's export), fp16, with 1 DiT step as
# its inference default.
$PY training/export_checkpoint.py "$RUN/ckpt/$(cat "$RUN/ckpt/latest")" vidrestore/weights/default.safetensors --inference-steps 1

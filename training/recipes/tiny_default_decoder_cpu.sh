#!/usr/bin/env bash
# The decoder stage of the shipped `default` weights (v0.2): the temporal pixel-aware decoder trained
# again on a 2-core CPU, on top of the LP-VAE and DiT of v0.1 (GPU-trained; stages vae1, vae2, dit of
# training/recipes/tiny_default.sh). Two data phases on one LR schedule (cosine over 5000 steps):
#   phase 1, steps 1-1800: noise only (Gaussian / Poisson-Gaussian, sigma 1-50). With the blind
#            mixture from step 1 the restoration path barely moved in 800 steps (most pixels of
#            compressed or clean clips need almost no correction, which holds the output layer at
#            zero); on noise it learns at once.
#   phase 2, steps 1801-4600: the blind mixture (noise, H.264/H.265, JPEG, blur, down-up), GAN from 4300;
#            stopped at 4600 (stop_at) of the 5000-step schedule: with the discriminator a step took
#            ~4.9 s instead of ~1.7 s on 2 cores, and the LR was already below 1e-5.
# Resumable: run the same command again after an interruption (resume=auto).
#
#   git show 0c50dfa:vidrestore/weights/default.safetensors > runs/v01_default.safetensors
#   INIT=runs/v01_default.safetensors bash training/recipes/tiny_default_decoder_cpu.sh
#
# On a GPU add: device=cuda precision=bf16 workers=8 (the script's options, see --help).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python}
RUN=${RUN:-runs/decoder_v02}
COMMON=(init=${INIT:?set INIT to the v0.1 weights (see above)} reset_decoder=true model=tiny run_dir=$RUN resume=auto
  threads=${THREADS:-2} workers=${WORKERS:-1} batch_size=4 data.size=[128,128] data.root=${DATA_ROOT:-../shared/data} data.motion.objects.p=0
  steps=5000 lr=4e-4 lr_schedule=cosine lr_min=1e-6 warmup_steps=300
  loss.perceptual=ssim loss.perceptual_weight=0.1 loss.temporal=0.25 loss.aux_rgb=1.0 loss.gan_weight=0.02 loss.gan_start=4300
  checkpoint_every=200 keep_checkpoints=2 val_every=500 val_batches=4 image_every=1000 log_every=25
  export_dtype=fp16 progress=false)
$PY training/finetune_decoder.py "${COMMON[@]}" stop_at=1800 \
  data.degradation.compression.p_codec=0 data.degradation.compression.p_jpeg=0 data.degradation.blur.p=0 \
  data.degradation.resize.p=0 data.degradation.noise.p=1 data.degradation.p_clean=0.02 "$@"
$PY training/finetune_decoder.py "${COMMON[@]}" stop_at=4600 \
  data.degradation.noise.p=0.75 data.degradation.compression.p_codec=0.5 data.degradation.compression.p_jpeg=0.1 \
  data.degradation.blur.p=0.15 data.degradation.resize.p=0.15 "$@"
# The shipped file: that export (EMA weights, fp16) with 1 DiT step as its inference default (1, 2, 4
# and 8 steps measured the same PSNR to 0.01 dB with these weights: the decoder barely uses the latent).
$PY - "$RUN/export.safetensors" vidrestore/weights/default.safetensors <<'PYEOF'
import sys
from omegaconf import OmegaConf
from vidrestore import weights_io as W
state, cfg, meta = W.load(W.resolve(sys.argv[1]))
OmegaConf.set_readonly(cfg, False)
cfg.inference.steps = 1
extra = {k: v for k, v in meta.items() if k not in ("config", "format", "trained")}
print(W.save(sys.argv[2], state, cfg, trained=meta["trained"] == "true", **extra))
PYEOF

#!/usr/bin/env bash
# Reproduces vidrestore/weights/default.safetensors (tiny chain): the four stages in order.
#   STAGES="vae1 vae2 dit decoder" RUNS=runs/tiny DATA_ROOT=../shared/data bash training/recipes/tiny_default.sh
# Knobs (environment): minutes per stage (M_VAE1, M_VAE2, M_DIT, M_DEC), batch sizes, workers,
# device/precision. The shipped weights' exact values are logged in training/RUNS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python}
RUNS=${RUNS:-runs/tiny}
STAGES=${STAGES:-"vae1 vae2 dit decoder"}
COMMON="device=${DEVICE:-auto} precision=${PRECISION:-fp32} workers=${WORKERS:-2} threads=${THREADS:-0} progress=${PROGRESS:-true} data.root=${DATA_ROOT:-../shared/data} data.motion.objects.p=0 resume=auto"
SIZE=${SIZE:-[128,128]}

for stage in $STAGES; do
  case $stage in
    vae1) $PY training/train_vae.py stage=1 run_dir=$RUNS/vae1 steps=${STEPS_VAE1:-100000} time_limit_min=${M_VAE1:-30} \
            batch_size=${B_VAE:-16} data.size=$SIZE loss.gan_start=${GAN_START_VAE:-100000} $COMMON ;;
    vae2) $PY training/train_vae.py stage=2 init=$RUNS/vae1/export.safetensors run_dir=$RUNS/vae2 steps=${STEPS_VAE2:-100000} \
            time_limit_min=${M_VAE2:-60} batch_size=${B_VAE:-16} data.size=$SIZE loss.gan_start=${GAN_START_VAE:-100000} $COMMON ;;
    dit)  $PY training/train_dit.py init=$RUNS/vae2/export.safetensors run_dir=$RUNS/dit steps=${STEPS_DIT:-100000} \
            time_limit_min=${M_DIT:-60} batch_size=${B_DIT:-16} data.size=$SIZE $COMMON ;;
    decoder) $PY training/finetune_decoder.py init=$RUNS/dit/export.safetensors run_dir=$RUNS/decoder steps=${STEPS_DEC:-100000} \
            time_limit_min=${M_DEC:-60} batch_size=${B_DEC:-8} data.size=$SIZE loss.gan_start=${GAN_START_DEC:-100000} \
            export_dtype=fp16 $COMMON ;;
    *) echo "unknown stage $stage" >&2; exit 2 ;;
  esac
done

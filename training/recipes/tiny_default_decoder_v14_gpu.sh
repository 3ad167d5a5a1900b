#!/usr/bin/env bash
# The decoder stage of the `default` weights v0.14 (not shipped; the init of v0.15): the v0.13 decoder trained on
# with the CPU recipe of v0.12/v0.13 unchanged (v0.9's data, mixture, losses, batch 4 and LR 1e-4; fresh AdamW, the
# pixel head at 5x) on one GPU (TF32, 14 loader workers), fresh samples (seed 50), a cosine over 1800 steps.
# The run on one H200 stopped at its time limit (time_limit_min=4.6) at step 854, LR then 6e-5 (0.27 s/step);
# `stop_at=854` reproduces that. It read the JPEG copy of the data (training/make_device_data.py):
#
#   python training/make_device_data.py ../shared/data .device_carry/data
#   INIT=<the v0.13 weights> DATA_ROOT=.device_carry/data bash training/recipes/tiny_default_decoder_v14_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.13 weights (see above)}"
export STEPS=${STEPS:-1800} RUN=${RUN:-runs/decoder_v14} DEVICE=${DEVICE:-cuda} PRECISION=${PRECISION:-tf32} \
  THREADS=${THREADS:-0} WORKERS=${WORKERS:-14}
exec bash training/recipes/tiny_default_decoder_v09_cpu.sh seed=50 stop_at=854 log_every=100 "$@"

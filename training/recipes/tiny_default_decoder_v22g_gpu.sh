#!/usr/bin/env bash
# A GPU cycle from the v0.21 decoder (training/RUNS.md, "v0.22g"): v0.12's recipe (v0.9's data, mixture and losses,
# the pixel head at 5x, fresh AdamW) at batch 16 and LR 2e-4 (v0.10's GPU setting; the CPU cycles use 4 and 1e-4),
# 200 warm-up steps, a cosine over 2400 steps, fresh samples (seed 140), TF32, 14 loader workers. The run on one
# H100 stopped at its time limit (time_limit_min=7.0) at step 1343, LR then 1e-4 (0.28 s/step); `stop_at=1343`
# reproduces that. It read the JPEG copy of the data (training/make_device_data.py):
#
#   python training/make_device_data.py ../shared/data .device_carry/data
#   INIT=<the v0.21 weights> DATA_ROOT=.device_carry/data bash training/recipes/tiny_default_decoder_v22g_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INIT:?set INIT to the v0.21 weights (see above)}"
export STEPS=${STEPS:-2400} RUN=${RUN:-runs/decoder_v22g} DEVICE=${DEVICE:-cuda} PRECISION=${PRECISION:-tf32} \
  THREADS=${THREADS:-0} WORKERS=${WORKERS:-14}
exec bash training/recipes/tiny_default_decoder_v09_cpu.sh seed=140 batch_size=16 lr=2e-4 warmup_steps=200 \
  stop_at=1343 log_every=100 checkpoint_every=400 val_every=400 "$@"

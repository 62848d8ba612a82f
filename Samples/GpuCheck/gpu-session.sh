#!/usr/bin/env bash
# The one prepared script for a GPU session (issue 8). Run from the repository root on the GPU machine, with the
# self-contained build carried in publish/gpucheck (see docs/gpu.md, "On a real GPU"). Each step has its own time limit,
# so one slow or failing step does not eat the session; everything is also written to $OUT/gpu-session.log when $OUT is set.
# Two parts, so each fits one 10-minute device command: `gpu-session.sh 1` (agreement, full-size step vs CPU, R18 timing;
# limits sum to 420 s) and `gpu-session.sh 2` (R50 timing; 240 s). No argument runs both (660 s of limits).
set -u
PART=${1:-all}
BIN=./publish/gpucheck/sparkle-gpucheck
LOG=${OUT:-/tmp}/gpu-session.log
run() { local limit=$1; shift; echo "== $* (limit ${limit}s)" | tee -a "$LOG"; timeout "$limit" "$@" 2>&1 | tee -a "$LOG"; echo "== exit ${PIPESTATUS[0]}" | tee -a "$LOG"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee -a "$LOG"
if [ "$PART" != 2 ]; then
run 90  $BIN cuda                               # CPU-vs-device agreement at full size (ops, SparK loss path, seam conv)
run 120 $BIN spark-agree r18 96 2 cuda          # one full-size SparK step, device vs CPU: loss and every gradient
run 150 $BIN spark r18 96 32 3 cuda profile     # step time R18 96 b32 (+ pool stats, host reads/step, peak memory, kernel profile)
run 60  python3 Samples/GpuCheck/torch/spark_step.py r18 96 32 5
fi
if [ "$PART" != 1 ]; then
run 180 $BIN spark r50 224 64 2 cuda            # step time R50 224 b64
run 60  python3 Samples/GpuCheck/torch/spark_step.py r50 224 64 5
fi

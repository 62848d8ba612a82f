#!/usr/bin/env bash
# The one prepared script for a GPU session (issue 8). Run from the repository root on the GPU machine, with the
# self-contained build carried in publish/gpucheck (see docs/gpu.md, "On a real GPU"). Each step has its own time limit,
# so one slow or failing step does not eat the session; everything is also written to $OUT/gpu-session.log when $OUT is set.
# On an H100 the whole script took ~100 s of wall time (2026-11-26; kernel compiles included); the limits sum to 450 s.
set -u
BIN=./publish/gpucheck/sparkle-gpucheck
LOG=${OUT:-/tmp}/gpu-session.log
run() { local limit=$1; shift; echo "== $* (limit ${limit}s)" | tee -a "$LOG"; timeout "$limit" "$@" 2>&1 | tee -a "$LOG"; echo "== exit ${PIPESTATUS[0]}" | tee -a "$LOG"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee -a "$LOG"
run 60  $BIN cuda                               # CPU-vs-device agreement at full size (ops, SparK loss path, seam conv)
run 60  $BIN spark-agree r18 96 2 cuda          # one full-size SparK step, device vs CPU: loss and every gradient
run 100 $BIN spark r18 96 32 5 cuda profile     # step time R18 96 b32 (+ pool stats, host reads/step, peak memory, kernel profile)
run 50  python3 Samples/GpuCheck/torch/spark_step.py r18 96 32 5
run 120 $BIN spark r50 224 64 3 cuda            # step time R50 224 b64
run 60  python3 Samples/GpuCheck/torch/spark_step.py r50 224 64 5

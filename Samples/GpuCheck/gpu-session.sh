#!/usr/bin/env bash
# The one prepared script for a GPU session (issues 8, 16). Run from the repository root on the GPU machine with the
# builds of Samples/GpuCheck/publish.sh carried (run's carry: publish/gpucheck and publish/cli). Each step runs under its
# own time limit (the limits sum to 505 s), so one slow or failing step does not eat the session; everything goes to
# $OUT/gpu-session.log, and a summary table with the Sparkle/PyTorch ratios ends it (docs/gpu.md, "The GPU session script").
#
#   Samples/GpuCheck/gpu-session.sh                                    # on the GPU machine
#   DEVICE=cpu SIZES=tiny LIMIT_SCALE=4 Samples/GpuCheck/gpu-session.sh   # rehearsal without a GPU (see below)
#
# DEVICE: cuda (default); cpu or ilgpu-cpu for a rehearsal (the agreement checks then run on ILGPU's CPU simulator,
# `sparkle bench` on that device, PyTorch on the CPU). SIZES: full (default) or tiny (64 px, batch 2, decoder width 64,
# 1 timed step; the checks at their small sizes). LIMIT_SCALE multiplies every limit (the simulator is slow).
# PY: the python with torch (default python3). BIN: where the builds are (default ./publish).
set -u
DEVICE=${DEVICE:-cuda}
SIZES=${SIZES:-full}
SCALE=${LIMIT_SCALE:-1}
PY=${PY:-python3}
BIN=${BIN:-./publish}
CHECK=$BIN/gpucheck/sparkle-gpucheck
SPARKLE=$BIN/cli/sparkle
TORCH=Samples/GpuCheck/torch/spark_step.py
LOG=${OUT:-/tmp}/gpu-session.log
: > "$LOG"
if [ "$DEVICE" = cuda ]; then GK=cuda; PYDEV=cuda; else GK=ilgpucpu; PYDEV=cpu; fi
run() {
    local limit=$(( $1 * SCALE )); shift
    echo "== $* (limit ${limit}s)" | tee -a "$LOG"
    local t0=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
    local rc=${PIPESTATUS[0]}
    echo "== exit $rc after $((SECONDS - t0)) s$([ "$rc" = 124 ] && echo ' (TIMED OUT)')" | tee -a "$LOG"
}
echo "gpu-session: DEVICE=$DEVICE SIZES=$SIZES LIMIT_SCALE=$SCALE $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null)" | tee -a "$LOG"
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee -a "$LOG"

# 1. Agreement first, with short limits: device vs CPU ops at 1M elements and the SparK loss path; one full-size SparK
#    step (R18 96 b2) device vs CPU, every gradient; every convolution of the three encoders and the decoder at real
#    sizes (exact FP32, bound 1e-4; then TF32, bound 5e-3); the TF32 tensor-core GEMM/conv check (Tf32Check.cs).
if [ "$SIZES" = full ]; then AGREE=(r18 96 2); CONV=full; else AGREE=(r18 64 2); CONV=small; fi
run 25 "$CHECK" "$GK"
run 40 "$CHECK" spark-agree "${AGREE[@]}" "$GK"
run 60 env SPARKLE_TF32=0 "$CHECK" conv "$GK" "$CONV"
run 35 "$CHECK" conv "$GK" "$CONV"
if [ "$GK" = cuda ]; then TF32MODE=tf32; else TF32MODE=tf32-sim; fi   # tf32: cuda:0 at real sizes; tf32-sim: the warp-32 simulator
run 20 "$CHECK" "$TF32MODE"
# ConvNeXt's 7x7 depthwise convs (b64, channels-last): the shared-memory kernels beside the per-element ones, and cuDNN.
if [ "$SIZES" = full ]; then DWSMALL=(); else DWSMALL=(--small); fi
run 15 "$CHECK" depthwise "$GK" "$CONV"
run 12 "$PY" Samples/GpuCheck/torch/depthwise.py --device "$PYDEV" ${DWSMALL[@]+"${DWSMALL[@]}"}

# 2. Timing: the real training step (forward, backward, LAMB) of `sparkle bench` beside PyTorch's official masked-dense
#    SparK step, same model/size/batch/decoder width 768; TF32 on (the default) for all three models, then exact FP32.
#    Each line: limit, sparkle model, torch arch, input, batch, reps.
if [ "$SIZES" = full ]; then
    PAIRS=("25 resnet18 r18 96 32 5" "35 resnet50 r50 224 64 3" "30 convnext_tiny cnxt 224 64 3"); WIDTH=768
else
    PAIRS=("25 resnet18 r18 64 2 1" "35 resnet50 r50 64 2 1" "30 convnext_tiny cnxt 64 2 1"); WIDTH=64
fi
for tf32 in 1 0; do
    for pair in "${PAIRS[@]}"; do
        read -r limit model arch size batch reps <<< "$pair"
        envs=(); [ "$tf32" = 0 ] && envs=(SPARKLE_TF32=0)
        # --small-stem false: the 7x7/2 stem at 96 px too, as SparK and spark_step.py build ResNets.
        run "$limit" env ${envs[@]+"${envs[@]}"} "$SPARKLE" bench --device "$DEVICE" --model "$model" --input-size "$size" --batch-size "$batch" \
            --small-stem false --dec-width "$WIDTH" --reps "$reps"
        run $(( limit * 2 / 3 )) "$PY" "$TORCH" "$arch" "$size" "$batch" "$reps" "$WIDTH" --tf32 "$tf32" --device "$PYDEV"
    done
done

# 3. Summary: PASS/FAIL counts of the checks and the timing table (ratios Sparkle / PyTorch; > 1 means Sparkle is slower
#    or uses more memory).
"$PY" - "$LOG" <<'PYEOF' 2>&1 | tee -a "$LOG"
import re, sys
text = open(sys.argv[1]).read()
print("== summary")
for cmd, body in re.findall(r"^== (.*?) \(limit \d+s\)\n(.*?)^== exit", text, re.S | re.M):
    if "bench" in cmd or "spark_step.py" in cmd or "depthwise.py" in cmd: continue
    passes, fails = len(re.findall(r"^PASS", body, re.M)), len(re.findall(r"^FAIL", body, re.M))
    print(f"  {cmd[:70]:<70} PASS {passes:>4}  FAIL {fails:>3}")
timeouts = len(re.findall(r"TIMED OUT", text))
exits = [int(x) for x in re.findall(r"^== exit (\d+)", text, re.M)]
print(f"  steps: {len(exits)}, non-zero exits: {sum(1 for e in exits if e)}, timed out: {timeouts}")
names = {"resnet18": "r18", "resnet50": "r50", "convnext_tiny": "cnxt"}
rows = {}
for m in re.finditer(r"^bench_result (.*)$", text, re.M):
    kv = dict(p.split("=", 1) for p in m.group(1).split())
    mode = "fp32" if kv["tf32_env"] == "0" else "tf32"
    rows.setdefault((names.get(kv["model"], kv["model"]), kv["input"], kv["batch"], mode), {})["s"] = kv
for m in re.finditer(r"^torch spark (\S+) (\d+) b(\d+) (.*)$", text, re.M):
    kv = dict(p.split("=", 1) for p in m.group(4).split() if "=" in p)
    mode = "fp32" if kv["tf32"] == "0" else "tf32"
    rows.setdefault((m.group(1), m.group(2), m.group(3), mode), {})["t"] = kv
def f(d, k): return d[k] if d and k in d else "-"
def ratio(s, t, ks, kt):
    try: return f"{float(s[ks]) / float(t[kt]):.2f}x"
    except (TypeError, KeyError, ValueError, ZeroDivisionError): return "-"
print(f"  {'model':<6} {'px':>4} {'b':>3} {'mode':<5} | {'sparkle ms':>10} {'img/s':>8} {'peak MB':>8} | {'torch ms':>9} {'img/s':>8} {'peak MB':>8} | {'time':>7} {'memory':>7}")
for key in sorted(rows, key=lambda k: (k[3] != "tf32", ["r18", "r50", "cnxt"].index(k[0]) if k[0] in ("r18", "r50", "cnxt") else 9)):
    s, t = rows[key].get("s"), rows[key].get("t")
    print(f"  {key[0]:<6} {key[1]:>4} {key[2]:>3} {key[3]:<5} | {f(s, 'step_ms'):>10} {f(s, 'img_s'):>8} {f(s, 'peak_mb'):>8} | "
          f"{f(t, 'median_ms'):>9} {f(t, 'img_s'):>8} {f(t, 'peak_mb'):>8} | {ratio(s, t, 'step_ms', 'median_ms'):>7} "
          f"{ratio(s, t, 'peak_mb', 'peak_mb'):>7}")
PYEOF

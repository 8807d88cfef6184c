#!/usr/bin/env bash
# One call on a GPU machine: build the runtime there (g++ + nvcc, no
# LLVM/MLIR), run the CUDA pytest suite, summarize the kernels' registers and
# SASS, then the GEMV benchmark. Results go to $OUT (default
# build-device/out): log.txt, ptxas.txt, sass_summary.txt, pytest.txt,
# bench.txt and bench_<variant>.json.
#
#   [QOPT_BENCH_VARIANTS="name:nvcc flags;..."] benchmarks/gpu/run_on_device.sh \
#       [bench_gemv.py arguments...]
#
# Each variant (default: just "default" with no extra flags) is a runtime
# built with other tuning macros of Gemv.cu and benchmarked the same way
# (the variants build in parallel, then run one after another);
# QOPT_BENCH_VARIANT_ARGS adds bench_gemv.py arguments for the variants other
# than "default" (e.g. "--formats int4,uint4 --batches 1,4").
# QOPT_NCU=1 profiles $QOPT_NCU_KERNELS (default "i4_n1_m2 f16_n1_m1") at
# 8192x8192, batch 1.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-$ROOT/build-device/out}"
BUILD="$ROOT/build-device"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
LOG="$OUT/log.txt"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.total \
  --format=csv > "$LOG" 2>&1

"$ROOT/benchmarks/gpu/build_on_device.sh" "$BUILD/default" >> "$LOG" 2>&1 \
  || { cat "$LOG"; exit 1; }
export QOPT_RUNTIME_LIB="$BUILD/default/libqopt_runtime.so"

# Registers, spills and the instructions the kernels use.
nvcc -cubin -arch=sm_90 -O3 -std=c++17 -Xptxas -v \
  -o "$BUILD/gemv.sm_90.cubin" "$ROOT/lib/Runtime/GPUKernels/Gemv.cu" \
  > "$OUT/ptxas.txt" 2>&1
cuobjdump --dump-sass "$BUILD/gemv.sm_90.cubin" > "$BUILD/gemv.sm_90.sass" 2>&1
for k in f16_n1_m1 i8_n1_m1 i4_n1_m1 i4_n1_m2; do
  echo "== qopt_gemv_$k"
  awk "/Function : qopt_gemv_$k\$/{p=1;next} /Function :/{p=0} p" \
    "$BUILD/gemv.sm_90.sass" | grep -oE '[A-Z][A-Z0-9]+(\.[A-Z0-9_]+)*' \
    | grep -E '^(HMMA|LDG|LDS|STS|LOP3|SHF|PRMT|HADD2|HFMA2|FFMA|FADD|BAR|SHFL|BRA|ISETP|IMAD|IADD3)' \
    | sort | uniq -c
done > "$OUT/sass_summary.txt"

# Variants other than "default": built in parallel while the tests run.
IFS=';' read -r -a variants <<< "${QOPT_BENCH_VARIANTS:-default:}"
vpids=()
for v in "${variants[@]}"; do
  name="${v%%:*}"
  flags="${v#*:}"
  [ "$name" = default ] && continue
  # shellcheck disable=SC2086
  QOPT_CUDA_ARCHS=sm_90 "$ROOT/benchmarks/gpu/build_on_device.sh" \
    "$BUILD/$name" $flags > "$BUILD/build_$name.log" 2>&1 &
  vpids+=($!)
done

timeout 300 python3 -m pytest -q -p no:cacheprovider \
  "$ROOT/test/python/test_cuda_runtime.py" > "$OUT/pytest.txt" 2>&1
tail -3 "$OUT/pytest.txt"
echo "tests done $(date +%T)" >> "$LOG"
for pid in "${vpids[@]}"; do wait "$pid"; done
echo "variants built $(date +%T)" >> "$LOG"

# QOPT_NCU=1: Nsight Compute's view of the int4 and f16 kernels at 8192x8192.
if [ "${QOPT_NCU:-0}" = 1 ]; then
  for k in ${QOPT_NCU_KERNELS:-i4_n1_m2 f16_n1_m1}; do
    fmt=int4
    case "$k" in f16*) fmt=f16 ;; i8*) fmt=int8 ;; u4*) fmt=uint4 ;; esac
    timeout "${QOPT_NCU_TIMEOUT:-120}" ncu --clock-control none --kernel-name "regex:qopt_gemv_$k" \
      --launch-count 1 --section SpeedOfLight --section Occupancy \
      --section WarpStateStats --section SchedulerStats --section LaunchStats \
      --section MemoryWorkloadAnalysis \
      python3 "$ROOT/benchmarks/gpu/bench_gemv.py" --runtime "$QOPT_RUNTIME_LIB" \
      --shapes 8192x8192 --batches 1 --formats $fmt --quick --rounds 1 \
      --replays 1 --out "$BUILD/ncu.json" 2>&1 | grep -vE '^ *(8192x|shape|wrote|$)'
  done > "$OUT/ncu.txt"
fi

for v in "${variants[@]}"; do
  name="${v%%:*}"
  flags="${v#*:}"
  lib="$BUILD/default/libqopt_runtime.so"
  extra=()
  if [ "$name" != default ]; then
    lib="$BUILD/$name/libqopt_runtime.so"
    cat "$BUILD/build_$name.log" >> "$LOG"
    [ -f "$lib" ] || { echo "variant $name failed to build"; continue; }
    # shellcheck disable=SC2206
    extra=(${QOPT_BENCH_VARIANT_ARGS:-})
  fi
  echo "== variant $name ($flags)" | tee -a "$OUT/bench.txt"
  timeout 400 python3 "$ROOT/benchmarks/gpu/bench_gemv.py" --runtime "$lib" \
    --out "$OUT/bench_$name.json" "$@" ${extra[@]+"${extra[@]}"} \
    >> "$OUT/bench.txt" 2>&1
  echo "variant $name benchmarked $(date +%T)" >> "$LOG"
  python3 - "$OUT/bench_$name.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"copy {d['copy_gbps']:.0f} GB/s")
for r in [r for r in d["results"] if r["batch"] == 1]:
    print(f"{r['n']:>5}x{r['k']:<5} b{r['batch']:<2} {r['format']:>5} "
          f"{r['ours_us']:7.2f} ({r['best_us']:7.2f} {r['best_launch']['row_tiles']}x"
          f"{r['best_launch']['warps']}) torch {r['torch_fp16_us']:7.2f} "
          f"x{r['speedup_vs_torch_fp16']:.2f} {100 * r['ours_frac_copy']:.0f}%"
          f"{'' if r['correct'] else ' WRONG'}")
EOF
done

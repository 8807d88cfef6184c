#!/usr/bin/env bash
# One call on a GPU machine: builds the runtime (sm_90 PTX) and ternary
# variants of qopt_qmm_s8t2_stream, runs the CUDA kernel tests of the 2:4
# sparse matmul and of the quantized and float matmuls, then
# benchmarks/prune/bench_sparse24_gpu.py and bench_qmatmul.py (ternary,
# batch 1) for each variant. Results in $OUT.
#
#   benchmarks/gpu/run_sparse24_on_device.sh ["name:nvcc flags;..."] [bench_sparse24_gpu args]
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-$ROOT/build-device/out}"
B="$ROOT/build-device/sp"
mkdir -p "$OUT" "$B"
export CXXFLAGS="-include string" QOPT_CUDA_ARCHS=sm_90 PYTHONUNBUFFERED=1
IFS=';' read -r -a variants <<< "${1:-default:}"
shift || true
(nvidia-smi --query-gpu=name,driver_version --format=csv; nvcc --version | tail -2) > "$OUT/gpu.txt" 2>&1
for v in "${variants[@]}"; do
  # shellcheck disable=SC2086
  bash "$ROOT/benchmarks/gpu/build_on_device.sh" "$B/${v%%:*}" ${v#*:} \
    > "$B/build_${v%%:*}.txt" 2>&1 &
done
wait
tail -2 "$B/build_default.txt"
export QOPT_RUNTIME_LIB="$B/default/libqopt_runtime.so"
timeout 200 python3 -m pytest -q -p no:cacheprovider "$ROOT/test/python/test_cuda_sparse24.py" \
  "$ROOT/test/python/test_cuda_qmatmul.py" "$ROOT/test/python/test_cuda_fmatmul.py" \
  > "$OUT/pytest_kernels.txt" 2>&1
echo "sparse24+qmatmul+fmatmul: $(tail -1 "$OUT/pytest_kernels.txt")"
grep -E "^FAILED" "$OUT/pytest_kernels.txt" | head -5
# The int8 metadata layout check: the other order must fail.
echo "int8 with the other metadata order: $(QOPT_CUDA_SP24_I8_META=1 timeout 60 python3 -m pytest -q \
  -p no:cacheprovider "$ROOT/test/python/test_cuda_sparse24.py" -k int8 2>&1 | tail -1)"
# Compiled models (test/gpu/prepare_models.py folders named by $QOPT_CASES)
# against their CPU artifacts.
if [ -n "${QOPT_CASES:-}" ]; then
  g++ -std=c++17 -O2 -I"$ROOT/include" "$ROOT/tools/quant-run/quant-run.cpp" \
    -o "$B/quant-run" -L"$B/default" -lqopt_runtime -Wl,-rpath,"$B/default" \
    > "$B/build_quant_run.txt" 2>&1 || tail -5 "$B/build_quant_run.txt"
  for d in $QOPT_CASES; do
    python3 "$ROOT/test/gpu/check_models.py" --jobs 8 --dir "$ROOT/$d" --quant-run "$B/quant-run" \
      --out "$OUT/models_$(basename "$d").json" | tail -3
    python3 -c "
import json, sys
for r in json.load(open(sys.argv[1]))['results']:
    print(r['model'], r['scheme'], r['sample'], r['ok'], r.get('max_rel_error'))" "$OUT/models_$(basename "$d").json"
  done
fi
for v in "${variants[@]}"; do
  name="${v%%:*}"
  [ "$name" = default ] && continue
  echo "$name s8t2 + sparse24: $(QOPT_RUNTIME_LIB="$B/$name/libqopt_runtime.so" timeout 100 \
    python3 -m pytest -q -p no:cacheprovider "$ROOT/test/python/test_cuda_qmatmul.py" \
    "$ROOT/test/python/test_cuda_sparse24.py" -k "s8t2 or sparse24" 2>&1 | tail -1)"
done
# Ternary batch 1: the default rule, then each variant forced to the
# streaming kernel, the block kernel, the two launches.
for v in "${variants[@]}" "block:" "unfused:"; do
  name="${v%%:*}"
  lib="$B/$name/libqopt_runtime.so"
  env=()
  if [ "$name" != default ]; then env=(QOPT_CUDA_T2_FUSED=stream); fi
  if [ "$name" = unfused ]; then lib="$QOPT_RUNTIME_LIB"; env=(QOPT_CUDA_T2_FUSED=0); fi
  if [ "$name" = block ]; then lib="$QOPT_RUNTIME_LIB"; env=(QOPT_CUDA_T2_FUSED=block); fi
  env "${env[@]+"${env[@]}"}" timeout 100 python3 "$ROOT/benchmarks/gpu/bench_qmatmul.py" \
    --runtime "$lib" --out "$B/q_$name.json" --shapes 8192x8192,28672x8192 --batches 1 |
    python3 -c "
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    print('$name', r['n'], r['k'], 'torch fp16', round(r['torch_fp16_us'], 1), 'us; s8t2',
          round(r['s8t2_us'], 1), 'us, x%.2f, %.0f%% of 4.8 TB/s' % (
              r['s8t2_speedup_vs_torch_fp16'], 100 * r['s8t2_frac_hbm_4800']))"
done
python3 -c "
import glob, json, os, sys
json.dump({os.path.basename(f)[2:-5]: json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + '/q_*.json'))},
          open(sys.argv[2], 'w'), indent=1)" "$B" "$OUT/ternary_variants.json"
# 2:4: each variant (bench_sparse24_gpu.py's arguments after the variants).
for v in "${variants[@]}"; do
  name="${v%%:*}"
  timeout 240 python3 "$ROOT/benchmarks/prune/bench_sparse24_gpu.py" \
    --runtime "$B/$name/libqopt_runtime.so" --out "$B/sp_$name.json" "$@" \
    2> "$B/bench_sparse24_err_$name.txt" | python3 -c "
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    print('$name', r['n'], r['k'], r['m'], 'fp16 %.1f us, 2:4 %.1f us (x%.2f), semi %s, err %.3g / %.3g' % (
        r['torch_fp16_us'], r['sparse24_us'], r['sparse24_speedup_vs_torch_fp16'],
        round(r['torch_semi_structured_us'], 1) if 'torch_semi_structured_us' in r else '-',
        r['sparse24_max_abs_err_vs_dense'], r['ref_max_abs']), {k: round(v, 2) for k, v in r.items() if ('f32' in k or 's8s8' in k or 'int_mm' in k) and k.endswith('_us')}, r.get('sparse24_s8s8_exact'))"
  tail -2 "$B/bench_sparse24_err_$name.txt" | grep -v UserWarning
done
python3 -c "
import glob, json, os, sys
json.dump({os.path.basename(f)[3:-5]: json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + '/sp_*.json'))},
          open(sys.argv[2], 'w'), indent=1)" "$B" "$OUT/sparse24_variants.json"

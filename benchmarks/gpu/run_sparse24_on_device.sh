#!/usr/bin/env bash
# One call on a GPU machine: builds the runtime (sm_90 PTX) and ternary
# variants of qopt_qmm_s8t2_stream, runs the CUDA kernel tests of the 2:4
# sparse matmul (both metadata orders, QOPT_CUDA_SP24_META=0/1: the
# layout check) and of the quantized matmuls, then
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
    > "$OUT/build_${v%%:*}.txt" 2>&1 &
done
wait
tail -2 "$OUT/build_default.txt"
export QOPT_RUNTIME_LIB="$B/default/libqopt_runtime.so"
for meta in 0 1; do
  QOPT_CUDA_SP24_META=$meta timeout 150 python3 -m pytest -q -x -p no:cacheprovider \
    "$ROOT/test/python/test_cuda_sparse24.py" > "$OUT/pytest_sparse24_meta$meta.txt" 2>&1
  echo "meta $meta: $(tail -1 "$OUT/pytest_sparse24_meta$meta.txt")"
done
timeout 150 python3 -m pytest -q -p no:cacheprovider "$ROOT/test/python/test_cuda_qmatmul.py" \
  "$ROOT/test/python/test_cuda_fmatmul.py" > "$OUT/pytest_qmatmul_fmatmul.txt" 2>&1
echo "qmatmul+fmatmul: $(tail -1 "$OUT/pytest_qmatmul_fmatmul.txt")"
for v in "${variants[@]}"; do
  name="${v%%:*}"
  [ "$name" = default ] && continue
  echo "$name s8t2: $(QOPT_RUNTIME_LIB="$B/$name/libqopt_runtime.so" timeout 60 python3 -m pytest -q \
    -p no:cacheprovider "$ROOT/test/python/test_cuda_qmatmul.py" -k s8t2 2>&1 | tail -1)"
done
for v in "${variants[@]}" "block:" "unfused:"; do
  name="${v%%:*}"
  lib="$B/$name/libqopt_runtime.so"
  env=()
  if [ "$name" = unfused ]; then lib="$QOPT_RUNTIME_LIB"; env=(QOPT_CUDA_T2_FUSED=0); fi
  if [ "$name" = block ]; then lib="$QOPT_RUNTIME_LIB"; env=(QOPT_CUDA_T2_FUSED=block); fi
  env "${env[@]+"${env[@]}"}" timeout 100 python3 "$ROOT/benchmarks/gpu/bench_qmatmul.py" \
    --runtime "$lib" --out "$OUT/q_$name.json" --shapes 8192x8192,28672x8192 --batches 1 |
    python3 -c "
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    print('$name', r['n'], r['k'], 'torch fp16', round(r['torch_fp16_us'], 1), 'us; s8t2',
          round(r['s8t2_us'], 1), 'us, x%.2f, %.0f%% of 4.8 TB/s' % (
              r['s8t2_speedup_vs_torch_fp16'], 100 * r['s8t2_frac_hbm_4800']))"
done
timeout 240 python3 "$ROOT/benchmarks/prune/bench_sparse24_gpu.py" --runtime "$QOPT_RUNTIME_LIB" \
  --out "$OUT/bench_sparse24_gpu.json" "$@" 2> "$OUT/bench_sparse24_err.txt" | python3 -c "
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    print(r['n'], r['k'], r['m'], 'fp16 %.1f us, 2:4 %.1f us (x%.2f), semi %s, err %.3g / %.3g' % (
        r['torch_fp16_us'], r['sparse24_us'], r['sparse24_speedup_vs_torch_fp16'],
        r.get('torch_semi_structured_us', r.get('torch_semi_structured_error', '-')),
        r['sparse24_max_abs_err_vs_dense'], r['ref_max_abs']), {k: round(v, 2) for k, v in r.items() if 'f32' in k and k.endswith('_us')})"
tail -3 "$OUT/bench_sparse24_err.txt"

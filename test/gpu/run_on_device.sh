#!/usr/bin/env bash
# One call on a GPU machine: build the runtime and quant-run there (g++ and
# nvcc, no LLVM/MLIR), then run the NVPTX artifacts prepared by
# test/gpu/prepare_models.py against their CPU references.
#
#   test/gpu/run_on_device.sh [CASES_DIR [MORE_CASES_DIRS...]]   (default build-gpurun;
#   results in $OUT/<dir name>.json)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CASES="${1:-$ROOT/build-gpurun}"
shift || true
OUT="${OUT:-$ROOT/build-device/out}"
BUILD="$ROOT/build-device/models"
mkdir -p "$OUT" "$BUILD"
nvidia-smi --query-gpu=name,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
"$ROOT/benchmarks/gpu/build_on_device.sh" "$BUILD" > "$OUT/build.txt" 2>&1 \
  || { tail -50 "$OUT/build.txt"; exit 1; }
g++ -std=c++17 -O2 -I"$ROOT/include" "$ROOT/tools/quant-run/quant-run.cpp" \
  -o "$BUILD/quant-run" -L"$BUILD" -lqopt_runtime -Wl,-rpath,"$BUILD" \
  >> "$OUT/build.txt" 2>&1 || { tail -50 "$OUT/build.txt"; exit 1; }
for d in "$CASES" "$@"; do name=$(basename "$d"); python3 "$ROOT/test/gpu/check_models.py" --jobs "${QOPT_GPU_JOBS:-8}" --dir "$d" \
  --quant-run "$BUILD/quant-run" --out "$OUT/$name.json"; done

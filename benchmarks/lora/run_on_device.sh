#!/usr/bin/env bash
# On the GPU machine, with build-lora-bench carried (prepared here by
# `bench_lora_gpu.py prepare`): builds the runtime and quant-run there
# (g++ and nvcc, no LLVM/MLIR) and runs `bench_lora_gpu.py run`.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-$ROOT/build-device/out}"
B="$ROOT/build-device/lora"
mkdir -p "$OUT" "$B"
"$ROOT/benchmarks/gpu/build_on_device.sh" "$B" > "$OUT/build.txt" 2>&1 \
  || { tail -30 "$OUT/build.txt"; exit 1; }
g++ -std=c++17 -O2 -I"$ROOT/include" "$ROOT/tools/quant-run/quant-run.cpp" \
  -o "$B/quant-run" -L"$B" -lqopt_runtime -Wl,-rpath,"$B" \
  >> "$OUT/build.txt" 2>&1 || { tail -30 "$OUT/build.txt"; exit 1; }
python3 "$ROOT/benchmarks/lora/bench_lora_gpu.py" run \
  --dir "$ROOT/build-lora-bench" --quant-run "$B/quant-run" --out "$OUT" "$@"

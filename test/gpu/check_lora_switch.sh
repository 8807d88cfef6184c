#!/usr/bin/env bash
# On the GPU machine (after test/gpu/prepare_lora_switch.py here, with
# build-lora-gpu carried): build the runtime and quant-run, run the switched
# artifact with each adapter (and none) on two samples, compare with the CPU
# switched artifact's outputs, time switch vs merged.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
D="$ROOT/build-lora-gpu"
mkdir -p "$OUT"
B="$D/rt"
mkdir -p "$B"
"$ROOT/benchmarks/gpu/build_on_device.sh" "$B" > "$OUT/build.txt" 2>&1 || { tail -30 "$OUT/build.txt"; exit 1; }
g++ -std=c++17 -O2 -I"$ROOT/include" "$ROOT/tools/quant-run/quant-run.cpp" -o "$B/quant-run" -L"$B" -lqopt_runtime -Wl,-rpath,"$B" >> "$OUT/build.txt" 2>&1 || { tail -30 "$OUT/build.txt"; exit 1; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for s in sample_000 sample_001; do
  for a in none sql chat; do
    extra=""; [ "$a" != none ] && extra="--adapter $a"
    "$B/quant-run" "$D/switch.gpu.so" --device=cuda --input hidden_states="$D/x_$s.npy" --output-dir "$D/gpu/${s}_$a" $extra > /dev/null || echo "RUN FAILED $s $a"
    python3 - "$D/ref/${s}_$a/output.npy" "$D/gpu/${s}_$a/output.npy" "$s $a" <<'PY'
import sys, numpy as np
r, g = np.load(sys.argv[1]), np.load(sys.argv[2])
print(f"{sys.argv[3]}: max |gpu - cpu| = {np.abs(r - g).max():.3e}, max |out| = {np.abs(r).max():.3f}")
PY
  done
done
for a in sql none; do
  extra=""; [ "$a" != none ] && extra="--adapter $a"
  echo -n "switch ($a): "; "$B/quant-run" "$D/switch.gpu.so" --device=cuda --input hidden_states="$D/x_sample_000.npy" --bench 200 --warmup 20 $extra | grep -o "median.*"
done
echo -n "merged sql: "; "$B/quant-run" "$D/merged_sql.gpu.so" --device=cuda --input hidden_states="$D/x_sample_000.npy" --bench 200 --warmup 20 | grep -o "median.*"

#!/usr/bin/env bash
# The main job on the bundled example: install, build, then compile the
# bundled MLP (float and W8A8 quantize/dequantize) with quant-opt's
# qopt-cpu-pipeline, run it, and compare with the numpy reference.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${QOPT_BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/setup.sh"
echo "== running the bundled example"
"$ROOT/.venv/bin/python" "$ROOT/examples/run_mlp_int8.py" --build-dir "$BUILD_DIR"

#!/usr/bin/env bash
# The main job on the bundled example: install, build, then compile the
# bundled transformer block with quant-compile, run it with quant-run on
# held-back inputs and compare with onnxruntime (outputs and latency); then
# the W8A8 MLP in qopt IR against its numpy reference.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${QOPT_BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/setup.sh"
echo "== running the bundled example"
"$ROOT/.venv/bin/python" "$ROOT/examples/run_example.py" --build-dir "$BUILD_DIR"
"$ROOT/.venv/bin/python" "$ROOT/examples/run_mlp_int8.py" --build-dir "$BUILD_DIR"

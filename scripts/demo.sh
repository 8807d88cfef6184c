#!/usr/bin/env bash
# The main job on the bundled example: install, build, compile the bundled
# transformer block and check it against onnxruntime, then quantize it W8A8
# with its calibration samples, compile, run and print the report (size,
# SQNR, float vs int8 latency), checked against onnxruntime. The last line is
# the verdict (PASS/FAIL); the exit status is non-zero on any failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${QOPT_BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/setup.sh"
echo "== running the bundled example"
"$ROOT/.venv/bin/python" "$ROOT/examples/run_example.py" --build-dir "$BUILD_DIR"
"$ROOT/.venv/bin/python" "$ROOT/examples/run_ptq_example.py" --build-dir "$BUILD_DIR"

#!/usr/bin/env bash
# Installs every dependency (Debian packages, then PyPI packages into .venv),
# configures and builds quant-opt into build/. Idempotent: a second run only
# rebuilds what changed.
#
#   scripts/setup.sh            # install + build
#   QOPT_BUILD_DIR=out scripts/setup.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${QOPT_BUILD_DIR:-$ROOT/build}"
VENV="$ROOT/.venv"

APT_PACKAGES=(
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools clang-22 lld-22
  libclang-rt-22-dev
  libonnx-dev libprotobuf-dev protobuf-compiler libonnx-testdata
  cmake ninja-build ccache libgtest-dev libgmock-dev
  python3 python3-venv python3-pip
)
PIP_PACKAGES=(onnx onnxruntime numpy nanobind pytest safetensors matplotlib scikit-build-core)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  for p in "${missing[@]}"; do
    # Capture first: `grep -q` closing the pipe early would make apt-cache
    # die of SIGPIPE, which pipefail reports as a missing package.
    policy="$(apt-cache policy "$p" 2>/dev/null || true)"
    if ! grep -q "Candidate: [^(]" <<<"$policy"; then
      echo "error: no Debian package '$p' is available. quant-opt needs Debian 12" >&2
      echo "  (bookworm) with bookworm-security enabled, where LLVM/MLIR 22 is packaged." >&2
      exit 1
    fi
  done
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
    --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import onnx, onnxruntime, numpy, nanobind, pytest, safetensors, matplotlib, scikit_build_core" 2>/dev/null; then
  echo "== installing Python packages: ${PIP_PACKAGES[*]}"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "${PIP_PACKAGES[@]}"
fi

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  echo "== configuring $BUILD_DIR"
  cmake -G Ninja -S "$ROOT" -B "$BUILD_DIR" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld \
    -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld \
    -DMLIR_DIR="$(llvm-config-22 --prefix)/lib/cmake/mlir" \
    -DPython3_EXECUTABLE="$VENV/bin/python"
fi
echo "== building"
cmake --build "$BUILD_DIR" -- -j2

# The Python package quant_opt (python-bindings/): only its small nanobind
# extensions are compiled, linked against the libraries just built (no
# second build of the compiler). scikit-build-core keeps its build folder
# in $BUILD_DIR/python-bindings, so a rerun only relinks what changed.
echo "== installing the quant_opt Python package"
QOPT_BUILD_DIR="$BUILD_DIR" CMAKE_BUILD_PARALLEL_LEVEL=2 \
  "$VENV/bin/python" -m pip install -q --no-build-isolation --no-deps \
  -C build-dir="$BUILD_DIR/python-bindings" \
  -C cmake.define.CMAKE_CXX_COMPILER=clang++-22 \
  "$ROOT/python-bindings"

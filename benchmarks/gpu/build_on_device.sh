#!/usr/bin/env bash
# Builds libqopt_runtime.so with g++ and nvcc alone, for a GPU machine that
# has no LLVM/MLIR (the runtime needs neither): the GEMV kernels' PTX for
# sm_80/sm_89/sm_90, embedded as the CMake build does (same script), and
# lib/Runtime/{,IO/,CUDA/}*.cpp + lib/Support/*.cpp.
#
#   benchmarks/gpu/build_on_device.sh [OUT_DIR] [extra nvcc flags...]
#
# Writes OUT_DIR/libqopt_runtime.so (default: build-device/). Extra flags go
# to nvcc, e.g. -DQOPT_GEMV_UNROLL_I4=4 for a tuning variant; $CXXFLAGS to
# the C++ compiler.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-$ROOT/build-device}"
shift || true
NVCC="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
CXX="${CXX:-g++}"
ARCHS="${QOPT_CUDA_ARCHS:-sm_80 sm_89 sm_90}"
mkdir -p "$OUT/GPUKernels" "$OUT/obj"

pids=()
inputs=""
qinputs=""
finputs=""
sinputs=""
winputs=""
for arch in $ARCHS; do
  # Wgmma.cu: sm_90a PTX (the TMA + wgmma kernels) in place of sm_90.
  warch="$arch"
  [ "$arch" = sm_90 ] && warch=sm_90a
  "$NVCC" -ptx -arch="${warch/sm_/compute_}" -O3 -std=c++17 "$@" \
    -o "$OUT/GPUKernels/wgmma.$warch.ptx" "$ROOT/lib/Runtime/GPUKernels/Wgmma.cu" &
  pids+=($!)
  winputs="$winputs${winputs:+,}$warch=$OUT/GPUKernels/wgmma.$warch.ptx"
  "$NVCC" -ptx -arch="${arch/sm_/compute_}" -O3 -std=c++17 "$@" \
    -o "$OUT/GPUKernels/gemv.$arch.ptx" "$ROOT/lib/Runtime/GPUKernels/Gemv.cu" &
  pids+=($!)
  "$NVCC" -ptx -arch="${arch/sm_/compute_}" -O3 -std=c++17 "$@" \
    -o "$OUT/GPUKernels/qmatmul.$arch.ptx" "$ROOT/lib/Runtime/GPUKernels/QMatmul.cu" &
  pids+=($!)
  "$NVCC" -ptx -arch="${arch/sm_/compute_}" -O3 -std=c++17 "$@" \
    -o "$OUT/GPUKernels/fmatmul.$arch.ptx" "$ROOT/lib/Runtime/GPUKernels/FloatMatmul.cu" &
  pids+=($!)
  "$NVCC" -ptx -arch="${arch/sm_/compute_}" -O3 -std=c++17 "$@" \
    -o "$OUT/GPUKernels/sparse24.$arch.ptx" "$ROOT/lib/Runtime/GPUKernels/Sparse24.cu" &
  pids+=($!)
  finputs="$finputs${finputs:+,}$arch=$OUT/GPUKernels/fmatmul.$arch.ptx"
  sinputs="$sinputs${sinputs:+,}$arch=$OUT/GPUKernels/sparse24.$arch.ptx"
  inputs="$inputs${inputs:+,}$arch=$OUT/GPUKernels/gemv.$arch.ptx"
  qinputs="$qinputs${qinputs:+,}$arch=$OUT/GPUKernels/qmatmul.$arch.ptx"
done
for pid in "${pids[@]}"; do wait "$pid"; done
cmake -DOUTPUT="$OUT/GPUKernels/GemvPTX.cpp" -DINPUTS="$inputs" \
  -P "$ROOT/lib/Runtime/GPUKernels/EmbedPTX.cmake"
cmake -DOUTPUT="$OUT/GPUKernels/QMatmulPTX.cpp" -DNAME=kQMatmulPTX -DINPUTS="$qinputs" \
  -P "$ROOT/lib/Runtime/GPUKernels/EmbedPTX.cmake"
cmake -DOUTPUT="$OUT/GPUKernels/FloatMatmulPTX.cpp" -DNAME=kFloatMatmulPTX -DINPUTS="$finputs" \
  -P "$ROOT/lib/Runtime/GPUKernels/EmbedPTX.cmake"
cmake -DOUTPUT="$OUT/GPUKernels/Sparse24PTX.cpp" -DNAME=kSparse24PTX -DINPUTS="$sinputs" \
  -P "$ROOT/lib/Runtime/GPUKernels/EmbedPTX.cmake"
cmake -DOUTPUT="$OUT/GPUKernels/WgmmaPTX.cpp" -DNAME=kWgmmaPTX -DINPUTS="$winputs" \
  -P "$ROOT/lib/Runtime/GPUKernels/EmbedPTX.cmake"

pids=()
objs=()
for src in "$ROOT"/lib/Runtime/*.cpp "$ROOT"/lib/Runtime/IO/*.cpp \
           "$ROOT"/lib/Runtime/CUDA/*.cpp "$ROOT"/lib/Support/*.cpp \
           "$OUT/GPUKernels/GemvPTX.cpp" "$OUT/GPUKernels/QMatmulPTX.cpp" \
           "$OUT/GPUKernels/FloatMatmulPTX.cpp" "$OUT/GPUKernels/Sparse24PTX.cpp" \
           "$OUT/GPUKernels/WgmmaPTX.cpp"; do
  # Named by folder and file (Runtime_Model.o, CUDA_Gemv.o, ...): unique.
  obj="$OUT/obj/$(basename "$(dirname "$src")")_$(basename "$src" .cpp).o"
  # shellcheck disable=SC2086
  "$CXX" -std=c++17 -O3 -fPIC -pthread -I"$ROOT/include" -I"$ROOT/lib/Runtime" \
    ${CXXFLAGS:-} -c "$src" -o "$obj" &
  pids+=($!)
  objs+=("$obj")
done
for pid in "${pids[@]}"; do wait "$pid"; done
"$CXX" -shared -pthread -o "$OUT/libqopt_runtime.so" "${objs[@]}" -ldl
echo "built $OUT/libqopt_runtime.so"

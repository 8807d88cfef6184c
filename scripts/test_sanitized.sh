#!/usr/bin/env bash
# The test command's sanitizer stage: builds a second tree (build-asan/)
# with AddressSanitizer + UndefinedBehaviorSanitizer (cmake -DQOPT_SANITIZE=ON)
# and runs the lit suite, GoogleTest and the hostile-model pytest suites
# against it. Any sanitizer report fails the test that triggered it.
# JUnit reports go to $1 (asan-lit.xml, asan-gtest.xml, asan-pytest.xml),
# summed by scripts/test.sh into its closing line.
#
#   scripts/test_sanitized.sh REPORT_DIR
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${QOPT_ASAN_BUILD_DIR:-$ROOT/build-asan}"
PY="$ROOT/.venv/bin/python"
REPORTS="$1"
LLVM_BIN="$(llvm-config-22 --bindir)"
status=0

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  echo "== configuring $BUILD_DIR (ASan + UBSan)"
  cmake -G Ninja -S "$ROOT" -B "$BUILD_DIR" \
    -DCMAKE_BUILD_TYPE=Release -DQOPT_SANITIZE=ON -DQOPT_BUILD_FUZZERS=OFF \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld \
    -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld \
    -DMLIR_DIR="$(llvm-config-22 --prefix)/lib/cmake/mlir" \
    -DPython3_EXECUTABLE="$PY" > "$REPORTS/asan-configure.log" 2>&1 \
    || { cat "$REPORTS/asan-configure.log"; exit 1; }
fi
echo "== building $BUILD_DIR"
# Everything but the Python extensions (built by pip, not instrumented) and
# the fuzzers (built sanitized in the main tree already).
cmake --build "$BUILD_DIR" -- -j2 || exit 1

# The sanitizer runtime is a shared library (-shared-libsan). Instrumented
# tools find it through their run path; processes that are not instrumented
# but load libqopt_runtime.so (mlir-runner, python's ctypes) get it
# preloaded.
ASAN_RT="$(clang++-22 -print-file-name=libclang_rt.asan-x86_64.so)"
UBSAN_RT="$(clang++-22 -print-file-name=libclang_rt.ubsan_standalone-x86_64.so)"
export LD_LIBRARY_PATH="$(dirname "$ASAN_RT")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# detect_leaks=0: LLVM/MLIR and python leak on exit by design; a failed run
# leaks its intermediates (docs/Security.md). allocator_may_return_null=1:
# the hostile suites ask for 2^40-element tensors and expect a clean error.
# allow_user_poisoning=0: LLVM's allocators poison their free space when the
# code including their headers is instrumented; libMLIR.so is not, and
# memory it hands out from such an allocator would read as poisoned.
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:allow_user_poisoning=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export QOPT_SANITIZER_PRELOAD="$ASAN_RT"

echo "== lit (sanitized)"
timeout 1500 "$PY" "$LLVM_BIN/lit" -sv \
  --xunit-xml-output="$REPORTS/asan-lit.xml" "$BUILD_DIR/test" || status=1

echo "== GoogleTest (sanitized)"
timeout 900 "$BUILD_DIR/bin/QOptUnitTests" --gtest_brief=1 \
  --gtest_output="xml:$REPORTS/asan-gtest.xml" || status=1

echo "== hostile-model pytest suites (sanitized tools)"
QOPT_BUILD_DIR="$BUILD_DIR" PATH="$ROOT/.venv/bin:$PATH" \
  timeout 900 "$PY" -m pytest -q -p no:cacheprovider \
  "$ROOT/test/python/test_hostile_runtime.py" \
  "$ROOT/test/python/test_import_onnx_safety.py" \
  --junitxml="$REPORTS/asan-pytest.xml" || status=1
exit $status

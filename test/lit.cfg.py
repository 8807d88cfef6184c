# -*- Python -*-
# lit configuration of the quant-opt test suite.

import ctypes
import os
import shutil

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "QUANT-OPT"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test", ".onnxtext"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.qopt_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in", "Inputs"]

# FileCheck runs with --enable-var-scope: captures die at each CHECK-LABEL.
config.environment["FILECHECK_OPTS"] = "--enable-var-scope --dump-input=fail"

# The sanitizer stage (scripts/test_sanitized.sh): libqopt_runtime.so and
# artifacts are instrumented, so processes that are not (mlir-runner,
# python) get the sanitizer runtime preloaded; its options pass through.
_preload = os.environ.get("QOPT_SANITIZER_PRELOAD")
if _preload:
    config.environment["LD_PRELOAD"] = _preload
    config.available_features.add("sanitized")
for _var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LD_LIBRARY_PATH"):
    if _var in os.environ:
        config.environment[_var] = os.environ[_var]

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

config.substitutions.append(("%PYTHON", config.python_executable))
config.substitutions.append(("%llvm_lib_dir", config.llvm_lib_dir))
config.substitutions.append(("%qopt_src_root", config.qopt_src_root))
config.substitutions.append(("%qopt_obj_root", config.qopt_obj_root))
config.substitutions.append(("%mlir_dir", config.mlir_dir))
config.substitutions.append(("%cmake_generator", config.cmake_generator))
config.substitutions.append(("%cmake", config.cmake_command))
config.substitutions.append(("%cxx", config.cxx_compiler))

runner_libs = ",".join(
    os.path.join(config.llvm_lib_dir, lib)
    for lib in ("libmlir_runner_utils.so", "libmlir_c_runner_utils.so"))
config.substitutions.append(("%mlir_runner_libs", runner_libs))

if os.path.exists(os.path.join(config.qopt_tools_dir, "quant-fuzz-onnx")):
    config.available_features.add("fuzzer")

config.substitutions.append(
    ("%qopt_runtime_lib", os.path.join(config.qopt_obj_root, "lib",
                                       "libqopt_runtime.so")))

# The GPU side needs no GPU to test: ptxas (the CUDA toolkit's) assembles the
# PTX the runtime embeds, when the runtime was built with nvcc.
ptxas = shutil.which("ptxas") or next(
    (p for p in ("/usr/local/cuda/bin/ptxas",) if os.path.exists(p)), None)
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
try:
    if _preload:
        raise OSError("an instrumented runtime cannot load into lit itself")
    _runtime = ctypes.CDLL(os.path.join(config.qopt_obj_root, "lib",
                                        "libqopt_runtime.so"))
    _runtime.qopt_cuda_gemv_ptx.restype = ctypes.c_char_p
    _runtime.qopt_cuda_gemv_ptx.argtypes = [ctypes.c_char_p]
    if _runtime.qopt_cuda_gemv_ptx(b"sm_90"):
        config.available_features.add("qopt-gpu-ptx")
except (OSError, AttributeError):
    pass

tools = [
    "quant-opt",
    "quant-translate",
    "quant-compile",
    "quant-run",
    ToolSubst("quant-fuzz-onnx", unresolved="ignore"),
    ToolSubst("quant-fuzz-tensor-files", unresolved="ignore"),
    ToolSubst("mlir-runner", unresolved="fatal"),
]
llvm_config.add_tool_substitutions(
    tools, [config.qopt_tools_dir, config.llvm_tools_dir])

"""quant_opt: quant-opt from Python.

Runtime level (needs only libqopt_runtime, no LLVM/MLIR):
    art = quant_opt.load("model.so")
    outputs = art(x=np.ones((1, 16), np.float32))   # {name: np.ndarray}

Compiler level:
    art = quant_opt.compile("model.onnx", quantize="w8a8",
                            calibration=[{"x": x} for x in samples])
    art.report["layers"], art.save("model.so")

IR level (embedding the qopt dialect, see quant_opt.ir):
    with quant_opt.ir.Context() as ctx:
        m = quant_opt.ir.Module.parse(text, ctx)
        m.run_pipeline("qopt-ptq{scheme=w8}")
"""

from ._errors import CompileError, Error, InputError, IRError, LoadError, RunError
from ._artifact import Artifact, TensorInfo, load
from . import _runtime

__version__ = "0.1.0"

__all__ = [
    "Artifact", "CompileError", "Error", "IRError", "InputError", "LoadError",
    "RunError",
    "TensorInfo", "compile", "import_onnx", "ir", "kernel_isa", "load",
    "option_keys",
    "set_num_threads", "get_num_threads",
]


def set_num_threads(num_threads: int) -> None:
    """Threads compiled models use (0: one per core, or $QOPT_NUM_THREADS)."""
    _runtime.set_num_threads(num_threads)


def get_num_threads() -> int:
    """The count set with set_num_threads (0: the default)."""
    return _runtime.get_num_threads()


def kernel_isa() -> str:
    """The runtime's f32 matmul kernel: "avx512", "avx2" or "generic"."""
    return _runtime.kernel_isa()


def __getattr__(name):
    # The compiler level loads LLVM and MLIR: only when first used.
    import importlib
    if name in ("compile", "option_keys"):
        return getattr(importlib.import_module("quant_opt._compile"), name)
    if name == "import_onnx":
        return importlib.import_module("quant_opt.ir").import_onnx
    if name == "ir":
        return importlib.import_module("quant_opt.ir")
    raise AttributeError(f"module 'quant_opt' has no attribute '{name}'")

"""ctypes bindings of the runtime's CUDA layer (qopt/Runtime/qopt_cuda.h) and
numpy helpers for the GEMV weight formats, shared by the CUDA tests."""

import ctypes
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

F16, INT8, INT4, UINT4 = 0, 1, 2, 3
DTYPE_F32, DTYPE_F16 = 1, 10


class GemvArgs(ctypes.Structure):
    """qopt_cuda_gemv_args."""

    _fields_ = [
        ("format", ctypes.c_int),
        ("x", ctypes.c_void_p),
        ("weight", ctypes.c_void_p),
        ("scales", ctypes.c_void_p),
        ("scale_dtype", ctypes.c_int),
        ("zero_points", ctypes.c_void_p),
        ("bias", ctypes.c_void_p),
        ("y", ctypes.c_void_p),
        ("batch", ctypes.c_int64),
        ("n", ctypes.c_int64),
        ("k", ctypes.c_int64),
        ("group_size", ctypes.c_int64),
    ]


def runtime_path():
    """$QOPT_RUNTIME_LIB, else the runtime of $QOPT_BUILD_DIR (default build/)."""
    if os.environ.get("QOPT_RUNTIME_LIB"):
        return os.environ["QOPT_RUNTIME_LIB"]
    build = os.environ.get("QOPT_BUILD_DIR", os.path.join(ROOT, "build"))
    return os.path.join(build, "lib", "libqopt_runtime.so")


def load(path=None):
    lib = ctypes.CDLL(path or runtime_path())
    vp, sz = ctypes.c_void_p, ctypes.c_size_t
    sigs = {
        "qopt_cuda_available": ([], ctypes.c_int),
        "qopt_cuda_last_error": ([], ctypes.c_char_p),
        "qopt_cuda_clear_error": ([], None),
        "qopt_last_error": ([], ctypes.c_char_p),
        "qopt_cuda_device_count": ([], ctypes.c_int),
        "qopt_cuda_driver_version": ([], ctypes.c_int),
        "qopt_cuda_device_info": ([ctypes.c_int, ctypes.c_char_p, sz,
                                   ctypes.POINTER(ctypes.c_int),
                                   ctypes.POINTER(ctypes.c_int),
                                   ctypes.POINTER(ctypes.c_int),
                                   ctypes.POINTER(sz)], ctypes.c_int),
        "qopt_cuda_malloc": ([sz, ctypes.POINTER(vp)], ctypes.c_int),
        "qopt_cuda_free": ([vp], ctypes.c_int),
        "qopt_cuda_copy_to_device": ([vp, vp, sz], ctypes.c_int),
        "qopt_cuda_copy_to_host": ([vp, vp, sz], ctypes.c_int),
        "qopt_cuda_copy_device": ([vp, vp, sz], ctypes.c_int),
        "qopt_cuda_synchronize": ([vp], ctypes.c_int),
        "qopt_cuda_release_cached": ([], ctypes.c_int),
        "qopt_cuda_constant": ([vp, ctypes.c_uint64], vp),
        "qopt_cuda_gemv": ([ctypes.POINTER(GemvArgs), vp], ctypes.c_int),
        "qopt_cuda_gemv_tuned": ([ctypes.POINTER(GemvArgs), vp, ctypes.c_int,
                                  ctypes.c_int], ctypes.c_int),
        "qopt_cuda_gemv_ptx": ([ctypes.c_char_p], ctypes.c_char_p),
        # MLIR's gpu-to-llvm ABI.
        "mgpuModuleLoad": ([vp, sz], vp),
        "mgpuModuleLoadJIT": ([vp, ctypes.c_int], vp),
        "mgpuModuleUnload": ([vp], None),
        "mgpuModuleGetFunction": ([vp, ctypes.c_char_p], vp),
        "mgpuLaunchKernel": ([vp] + [ctypes.c_ssize_t] * 6 +
                             [ctypes.c_int32, vp, vp, vp, sz], None),
        "mgpuStreamCreate": ([], vp),
        "mgpuStreamDestroy": ([vp], None),
        "mgpuStreamSynchronize": ([vp], None),
        "mgpuStreamWaitEvent": ([vp, vp], None),
        "mgpuEventCreate": ([], vp),
        "mgpuEventDestroy": ([vp], None),
        "mgpuEventSynchronize": ([vp], None),
        "mgpuEventRecord": ([vp, vp], None),
        "mgpuMemAlloc": ([ctypes.c_uint64, vp, ctypes.c_bool], vp),
        "mgpuMemFree": ([vp, vp], None),
        "mgpuMemcpy": ([vp, vp, sz, vp], None),
        "mgpuMemset32": ([vp, ctypes.c_uint, sz, vp], None),
        "mgpuMemset16": ([vp, ctypes.c_ushort, sz, vp], None),
        "mgpuSetDefaultDevice": ([ctypes.c_int32], None),
    }
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res
    return lib


# --- weight formats (docs/Runtime/CUDA.md) ----------------------------------

def load_device_or_skip():
    """The runtime, for tests that need a CUDA device: fails the test when
    the runtime is not built, skips it when no device answers (CI)."""
    import pytest
    path = runtime_path()
    if not os.path.exists(path):
        pytest.fail(f"the runtime is not built at {path}")
    lib = load(path)
    if not lib.qopt_cuda_available():
        pytest.skip("no CUDA device: " + lib.qopt_cuda_last_error().decode())
    return lib


def pack_int4(q):
    """[N, K] integers (-8..7 or 0..15) -> [N, K/2] bytes, even k low."""
    q = np.asarray(q).astype(np.int64) & 0xF
    return (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8)


def quantize_int8(w):
    """Symmetric per-row int8: (q int8 [N, K], scale f16 [N])."""
    scale = (np.abs(w).max(axis=1) / 127).astype(np.float16)
    scale[scale == 0] = 1
    q = np.clip(np.rint(w / scale.astype(np.float64)[:, None]), -127, 127)
    return q.astype(np.int8), scale


def quantize_int4(w, group, asym, rng=None):
    """Block-wise int4: (packed [N, K/2], scales f16 [N, K/G], zeros or None,
    q [N, K]). Symmetric: q in -8..7; asymmetric: q in 0..15 with zero points."""
    n, k = w.shape
    blocks = w.reshape(n, k // group, group).astype(np.float64)
    if asym:
        lo, hi = blocks.min(axis=2), blocks.max(axis=2)
        scale = ((hi - lo) / 15).astype(np.float16)
        scale[scale == 0] = 1
        s = scale.astype(np.float64)
        zero = np.clip(np.rint(-lo / s), 0, 15).astype(np.uint8)
        q = np.clip(np.rint(blocks / s[..., None]) + zero[..., None], 0, 15)
    else:
        scale = (np.abs(blocks).max(axis=2) / 7).astype(np.float16)
        scale[scale == 0] = 1
        s = scale.astype(np.float64)
        zero = None
        q = np.clip(np.rint(blocks / s[..., None]), -8, 7)
    q = q.reshape(n, k).astype(np.int64)
    return pack_int4(q), scale, zero, q


def dequantize(fmt, weight, scales, zeros, group, n, k):
    """The dequantized weight W' in float64, as the kernels define it."""
    if fmt == F16:
        return weight.astype(np.float64)
    s = scales.astype(np.float64)
    if fmt == INT8:
        return weight.astype(np.float64) * s[:, None]
    packed = weight.astype(np.int64)
    q = np.empty((n, k), np.int64)
    q[:, 0::2] = packed & 0xF
    q[:, 1::2] = packed >> 4
    if fmt == INT4:
        q = np.where(q >= 8, q - 16, q)
        z = np.zeros((n, k // group))
    else:
        z = zeros.astype(np.float64)
    sk = np.repeat(s, group, axis=1)
    zk = np.repeat(z, group, axis=1)
    return (q - zk) * sk

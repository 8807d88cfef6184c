"""The float32 matmul compiled NVPTX models call (lib/Runtime/CUDA/
FloatMatmul.cpp, GPUKernels/FloatMatmul.cu): qopt_cuda_matmul_f32
(C += A·B, up to two batch dims, element strides) against numpy float64
products, for each precision (0 f32 = 3xTF32, 1 tf32, 2 fma) and each
path: K-contiguous B ("nt", linear layers and Q·Kᵀ), N-contiguous B ("nn",
x·W and P·V), split K (atomic partial sums) when the output has few tiles,
and the scalar kernel for anything else (A transposed,
unaligned rows, K % 4 != 0). C starts as a random bias. Skipped without a
GPU (CI)."""

import ctypes

import numpy as np
import pytest

import cuda_runtime as cr
from test_cuda_qmatmul import Dev, finish

I64 = ctypes.c_int64

# |C - ref| / (|A|·|B| row-column dot products): per precision.
TOL = {0: 1e-5, 1: 2e-3, 2: 1e-5}


@pytest.fixture(scope="module")
def rt():
    lib = cr.load_device_or_skip()
    lib.qopt_cuda_matmul_f32.argtypes = [I64] * 23
    lib.qopt_cuda_matmul_f32.restype = None
    return lib


@pytest.fixture
def dev(rt):
    d = Dev(rt)
    yield d
    d.free()


def run_case(rt, dev, b0, b1, m, n, k, layout, precision, a_t=False,
             offset=0, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((b0, b1, m, k)).astype(np.float32)
    b = rng.standard_normal((b0, b1, k, n)).astype(np.float32)
    c0 = rng.standard_normal((b0, b1, m, n)).astype(np.float32)
    # A stored [.., m, k] (or [.., k, m] when a_t); B stored [.., n, k]
    # for "nt", [.., k, n] for "nn".
    a_store = np.ascontiguousarray(np.swapaxes(a, 2, 3)) if a_t else a
    b_store = np.ascontiguousarray(np.swapaxes(b, 2, 3)) if layout == "nt" else b
    pa, pb = dev.put(a_store, offset), dev.put(b_store, offset)
    pc = dev.put(c0)
    sa = (b1 * m * k, m * k) + ((1, m) if a_t else (k, 1))
    sb = (b1 * k * n, k * n) + ((1, k) if layout == "nt" else (n, 1))
    sc = (b1 * m * n, m * n, n, 1)
    rt.qopt_cuda_matmul_f32(b0, b1, m, n, k, pa, *sa, pb, *sb, pc, *sc, 0,
                            precision, 0)
    finish(rt)
    got = dev.get(pc, c0)
    ref = c0.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64) + 1
    err = float(np.max(np.abs(got - ref) / scale))
    assert np.isfinite(got).all()
    assert err < TOL[precision], (layout, precision, err)
    return err


SHAPES = [(1, 1, 128, 128, 128), (1, 1, 1, 64, 32), (1, 1, 33, 70, 44),
          (2, 3, 77, 130, 96), (1, 1, 256, 512, 1024), (1, 4, 128, 128, 64),
          # Split K (few output tiles): even splits, and K = 1000 (a last
          # split that ends inside a 32-k step).
          (1, 1, 128, 1024, 4096), (1, 1, 1, 512, 1000), (2, 1, 40, 200, 2048)]


@pytest.mark.parametrize("precision", [0, 1, 2])
@pytest.mark.parametrize("layout", ["nt", "nn"])
@pytest.mark.parametrize("shape", SHAPES)
def test_tensor_core_paths(rt, dev, shape, layout, precision):
    run_case(rt, dev, *shape, layout, precision)


@pytest.mark.parametrize("precision", [0, 1])
def test_scalar_fallbacks(rt, dev, precision):
    # A transposed, operands 4 bytes off 16-byte alignment, K % 4 != 0.
    run_case(rt, dev, 1, 2, 40, 24, 36, "nn", precision, a_t=True)
    run_case(rt, dev, 1, 1, 40, 24, 36, "nt", precision, offset=4)
    run_case(rt, dev, 2, 1, 17, 9, 13, "nt", precision)


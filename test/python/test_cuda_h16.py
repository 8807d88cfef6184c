"""The 16-bit matmul (lib/Runtime/CUDA/Wgmma.cpp, GPUKernels/Wgmma.cu):
qopt_cuda_matmul_h16 (C (+)= A·B for float16 / bfloat16 operands, float32
sums; C float32 or of the operands' type; up to two batch dims, element
strides) against numpy float64 products of the same 16-bit values, on every
path: the TMA + wgmma kernels on a compute capability 9.0 device (B
K-contiguous "nt" and N-contiguous "nn", 128- and 256-column tiles, split K
for a float32 C, batches, a B shared by the batches, edges in M, N and K)
split K for a 16-bit C through a float32 workspace, and the any-stride
fallback (misaligned operands, odd strides, and every
case again with QOPT_CUDA_WGMMA=0). Also qopt_cuda_matmul_f32's tf32
precision on the wgmma kernels. Skipped without a GPU (CI)."""

import ctypes

import numpy as np
import pytest

import cuda_runtime as cr
from test_cuda_qmatmul import Dev, finish

I64 = ctypes.c_int64


@pytest.fixture(scope="module")
def rt():
    lib = cr.load_device_or_skip()
    lib.qopt_cuda_matmul_h16.argtypes = [I64] * 25
    lib.qopt_cuda_matmul_h16.restype = None
    lib.qopt_cuda_matmul_f32.argtypes = [I64] * 23
    lib.qopt_cuda_matmul_f32.restype = None
    lib.qopt_cuda_wgmma_last_kernel.restype = ctypes.c_char_p
    return lib


@pytest.fixture(scope="module")
def hopper(rt):
    name = ctypes.create_string_buffer(256)
    major, minor = ctypes.c_int(), ctypes.c_int()
    assert rt.qopt_cuda_device_info(0, name, 256, ctypes.byref(major),
                                    ctypes.byref(minor), None, None) == 0
    return (major.value, minor.value) == (9, 0)


@pytest.fixture
def dev(rt):
    d = Dev(rt)
    yield d
    d.free()


def to16(x, dtype):
    """(stored 16-bit array, its float64 values)."""
    if dtype == "f16":
        h = x.astype(np.float16)
        return h, h.astype(np.float64)
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    b = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return b, (b.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def from16(h, dtype):
    if dtype == "f16":
        return h.astype(np.float64)
    return (h.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def run_case(rt, dev, b0, b1, m, n, k, layout, dtype, c_f32, accumulate=True,
             offset=0, shared_b=False, seed=0):
    rng = np.random.default_rng(seed)
    a, av = to16(rng.standard_normal((b0, b1, m, k)), dtype)
    bshape = (1, 1, k, n) if shared_b else (b0, b1, k, n)
    b, bv = to16(rng.standard_normal(bshape), dtype)
    c0f = rng.standard_normal((b0, b1, m, n)).astype(np.float32)
    if c_f32:
        c0, c0v = c0f, c0f.astype(np.float64)
    else:
        c0, c0v = to16(c0f, dtype)
    b_store = np.ascontiguousarray(np.swapaxes(b, 2, 3)) if layout == "nt" else b
    pa, pb = dev.put(a, offset), dev.put(b_store, offset)
    pc = dev.put(c0)
    sa = (b1 * m * k, m * k, k, 1)
    bb = (0, 0) if shared_b else (b1 * k * n, k * n)
    sb = bb + ((1, k) if layout == "nt" else (n, 1))
    sc = (b1 * m * n, m * n, n, 1)
    rt.qopt_cuda_matmul_h16(b0, b1, m, n, k, pa, *sa, pb, *sb, pc, *sc, 0,
                            0 if dtype == "f16" else 1, int(c_f32),
                            int(accumulate), 0)
    finish(rt)
    kernel = rt.qopt_cuda_wgmma_last_kernel().decode()
    got = dev.get(pc, c0)
    got = got.astype(np.float64) if c_f32 else from16(got, dtype)
    ref = av @ bv + (c0v if (c_f32 or accumulate) else 0)
    scale = np.abs(av) @ np.abs(bv) + 1
    # float32 sums of exact products; a 16-bit C is rounded once.
    rel = 0 if c_f32 else (2.0**-10 if dtype == "f16" else 2.0**-7)
    bad = np.abs(got - ref) > rel * np.abs(ref) + 1e-5 * scale
    assert np.isfinite(got).all(), kernel
    assert not bad.any(), (kernel, np.argwhere(bad)[:5],
                           float(np.max(np.abs(got - ref) / scale)))
    return kernel


# (b0, b1, m, n, k): tile multiples; edges in M, N and K (K not a
# multiple of the 64-k step, K < 64); few tiles (split K for a float32 C);
# batches; enough tiles for 256-column tiles (>= one per SM).
SHAPES = [(1, 1, 128, 256, 256), (1, 1, 1, 64, 32), (1, 1, 33, 72, 40),
          (2, 3, 77, 136, 96), (1, 1, 256, 512, 1024), (1, 4, 128, 128, 64),
          (1, 1, 128, 1024, 4096), (1, 1, 200, 328, 1000),
          (1, 1, 2048, 4096, 256), (1, 1, 4096, 2560, 128)]


@pytest.mark.parametrize("c_f32", [True, False], ids=["cf32", "c16"])
@pytest.mark.parametrize("dtype", ["f16", "bf16"])
@pytest.mark.parametrize("layout", ["nt", "nn"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_wgmma_paths(rt, dev, hopper, shape, layout, dtype, c_f32):
    kernel = run_case(rt, dev, *shape, layout, dtype, c_f32)
    if hopper:
        assert kernel.startswith(f"qopt_wg_{dtype}_{layout}_"), kernel


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_overwrite_and_shared_b(rt, dev, hopper, dtype):
    run_case(rt, dev, 1, 1, 130, 200, 72, "nt", dtype, False, accumulate=False)
    # Split K through the workspace, stored without accumulating.
    kernel = run_case(rt, dev, 1, 1, 128, 512, 2048, "nn", dtype, False,
                      accumulate=False)
    if hopper:
        assert kernel.endswith("+ws"), kernel
    kernel = run_case(rt, dev, 3, 2, 64, 128, 128, "nn", dtype, True,
                      shared_b=True)
    if hopper:
        assert kernel.startswith("qopt_wg_"), kernel


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_fallback(rt, dev, dtype):
    # Operands 2 bytes off 16-byte alignment; K % 8 != 0 (rows not a
    # multiple of 16 bytes).
    k1 = run_case(rt, dev, 1, 2, 40, 24, 36, "nt", dtype, True, offset=2)
    k2 = run_case(rt, dev, 2, 1, 17, 9, 13, "nn", dtype, False)
    assert "simt" in k1 and "simt" in k2, (k1, k2)


def test_fallback_forced(rt, dev, monkeypatch):
    monkeypatch.setenv("QOPT_CUDA_WGMMA", "0")
    for shape in SHAPES[:6]:
        for layout in ("nt", "nn"):
            kernel = run_case(rt, dev, *shape, layout, "f16", False)
            assert "simt" in kernel, kernel


@pytest.mark.parametrize("shape", [(1, 1, 128, 256, 256), (2, 3, 77, 130, 96),
                                   (1, 1, 128, 1024, 4096),
                                   (1, 1, 2048, 4096, 256)],
                         ids=lambda s: "x".join(map(str, s)))
def test_tf32_on_wgmma(rt, dev, hopper, shape):
    b0, b1, m, n, k = shape
    rng = np.random.default_rng(1)
    a = rng.standard_normal((b0, b1, m, k)).astype(np.float32)
    b = rng.standard_normal((b0, b1, k, n)).astype(np.float32)
    c0 = rng.standard_normal((b0, b1, m, n)).astype(np.float32)
    pa = dev.put(a)
    pb = dev.put(np.ascontiguousarray(np.swapaxes(b, 2, 3)))
    pc = dev.put(c0)
    rt.qopt_cuda_matmul_f32(b0, b1, m, n, k, pa, b1 * m * k, m * k, k, 1, pb,
                            b1 * k * n, k * n, 1, k, pc, b1 * m * n, m * n, n,
                            1, 0, 1, 0)
    finish(rt)
    kernel = rt.qopt_cuda_wgmma_last_kernel().decode()
    got = dev.get(pc, c0).astype(np.float64)
    ref = c0.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64) + 1
    err = float(np.max(np.abs(got - ref) / scale))
    assert np.isfinite(got).all()
    assert err < 2e-3, (kernel, err)
    if hopper:
        assert kernel.startswith("qopt_wg_tf32_nt_"), kernel


@pytest.mark.parametrize("shape", [(1, 1, 4096, 2560, 128), (2, 3, 77, 136, 96),
                                   (1, 1, 128, 1024, 4096)],
                         ids=lambda s: "x".join(map(str, s)))
def test_block_per_tile(rt, dev, hopper, shape, monkeypatch):
    # The same kernels with a block per tile instead of one block an SM
    # walking the tiles.
    monkeypatch.setenv("QOPT_CUDA_WGMMA_PERSISTENT", "0")
    for layout in ("nt", "nn"):
        kernel = run_case(rt, dev, *shape, layout, "bf16", False)
        if hopper:
            assert kernel.startswith("qopt_wg_bf16_"), kernel

"""The quantized matmuls compiled NVPTX models call (lib/Runtime/CUDA/
QMatmul.cpp, GPUKernels/QMatmul.cu): qopt_cuda_matmul_{w8,w4,s8s8,u8s8,
s8t2,f32t2} against numpy references computed from the formulas — exact
int64 sums for the integer ones (W8A8, ternary with int8 activations),
float64 for the others — over batch 1..21, aligned (16-byte chunks) and
unaligned (scalar) operands and every int4 format. C is accumulated into
(it starts as a random bias). Skipped without a GPU (CI)."""

import ctypes

import numpy as np
import pytest

import cuda_runtime as cr

I64 = ctypes.c_int64


@pytest.fixture(scope="module")
def rt():
    lib = cr.load_device_or_skip()
    for name, n in (("w8", 15), ("w4", 21), ("s8s8", 14), ("u8s8", 14),
                    ("s8t2", 15), ("f32t2", 13)):
        f = getattr(lib, f"qopt_cuda_matmul_{name}")
        f.argtypes = [I64] * n
        f.restype = None
    return lib


class Dev:
    def __init__(self, rt):
        self.rt, self.ptrs = rt, []

    def put(self, a, offset=0):
        """A device copy of `a`, starting `offset` bytes into its buffer."""
        a = np.ascontiguousarray(a)
        p = ctypes.c_void_p()
        assert self.rt.qopt_cuda_malloc(a.nbytes + offset + 16, ctypes.byref(p)) == 0
        self.ptrs.append(p.value)
        assert self.rt.qopt_cuda_copy_to_device(p.value + offset, a.ctypes.data,
                                                a.nbytes) == 0
        return p.value + offset

    def get(self, ptr, like):
        out = np.empty_like(like)
        assert self.rt.qopt_cuda_copy_to_host(out.ctypes.data, ptr, out.nbytes) == 0
        return out

    def free(self):
        for p in self.ptrs:
            self.rt.qopt_cuda_free(p)


@pytest.fixture
def dev(rt):
    d = Dev(rt)
    yield d
    d.free()


def finish(rt):
    assert rt.qopt_cuda_synchronize(None) == 0, rt.qopt_last_error().decode()


def pack_ternary(t):
    """Codes t + 1 at bits 2(k % 4) of byte k / 4."""
    n, k = t.shape
    c = (t + 1).astype(np.uint8).reshape(n, k // 4, 4)
    return (c[..., 0] | (c[..., 1] << 2) | (c[..., 2] << 4) | (c[..., 3] << 6)).astype(np.uint8)


BATCHES = [1, 2, 3, 4, 5, 8, 16, 21]


@pytest.mark.parametrize("m", BATCHES)
@pytest.mark.parametrize("k,offset", [(256, 0), (80, 0), (256, 4)],
                         ids=["vec", "k80", "unaligned"])
def test_w8(rt, dev, m, k, offset):
    rng = np.random.default_rng(m)
    n = 37
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.integers(-127, 128, (n, k)).astype(np.int8)
    s = (rng.random(n) * 0.01 + 1e-3).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    c = dev.put(c0)
    rt.qopt_cuda_matmul_w8(m, n, k, dev.put(x, offset), k, 1, dev.put(w), k, 1,
                           dev.put(s), 1, c, n, 1, 0)
    finish(rt)
    ref = c0 + x.astype(np.float64) @ (w.astype(np.float64) * s[:, None]).T
    np.testing.assert_allclose(dev.get(c, c0), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("m", BATCHES)
@pytest.mark.parametrize("fmt", [0, 1, 2], ids=["uint4", "int4", "nf4"])
@pytest.mark.parametrize("k,group", [(256, 32), (256, 128), (96, 16)])
def test_w4(rt, dev, m, fmt, k, group):
    rng = np.random.default_rng(10 * m + fmt)
    n = 21
    q = rng.integers(0, 16, (n, k)).astype(np.int64)  # stored nibbles
    packed = (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8)
    s = (rng.random((n, k // group)) * 0.1 + 0.01).astype(np.float32)
    z = rng.integers(0, 16, (n, k // group)).astype(np.uint8)
    if fmt == 0:
        v = q - np.repeat(z.astype(np.int64), group, axis=1)
    elif fmt == 1:
        v = np.where(q >= 8, q - 16, q)
    else:
        v = np.array([-1.0, -0.6961928009986877, -0.5250730514526367,
                      -0.39491748809814453, -0.28444138169288635,
                      -0.18477343022823334, -0.09105003625154495, 0.0,
                      0.07958029955625534, 0.16093020141124725,
                      0.24611230194568634, 0.33791524171829224,
                      0.44070982251167297, 0.5626170039176941,
                      0.7229568362236023, 1.0], np.float32).astype(np.float64)[q]
    wd = v * np.repeat(s.astype(np.float64), group, axis=1)
    x = rng.standard_normal((m, k)).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    c = dev.put(c0)
    rt.qopt_cuda_matmul_w4(m, n, k, group, fmt, dev.put(x), k, 1, dev.put(packed),
                           k // 2, 1, dev.put(s), k // group, 1,
                           dev.put(z) if fmt == 0 else 0, k // group, 1, c, n, 1, 0)
    finish(rt)
    np.testing.assert_allclose(dev.get(c, c0), c0 + x.astype(np.float64) @ wd.T,
                               rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("m", BATCHES)
@pytest.mark.parametrize("unsigned", [False, True], ids=["s8s8", "u8s8"])
@pytest.mark.parametrize("k,offset", [(512, 0), (48, 0), (512, 3)],
                         ids=["vec", "k48", "unaligned"])
def test_int8_exact(rt, dev, m, unsigned, k, offset):
    rng = np.random.default_rng(m)
    n = 45
    x = rng.integers(0 if unsigned else -128, 256 if unsigned else 128, (m, k)).astype(
        np.uint8 if unsigned else np.int8)
    w = rng.integers(-128, 128, (n, k)).astype(np.int8)
    c0 = rng.integers(-1000, 1000, (m, n)).astype(np.int32)
    c = dev.put(c0)
    f = rt.qopt_cuda_matmul_u8s8 if unsigned else rt.qopt_cuda_matmul_s8s8
    f(m, n, k, dev.put(x, offset), k, 1, dev.put(w), k, 1, c, n, 1, 1, 0)
    finish(rt)
    ref = c0.astype(np.int64) + x.astype(np.int64) @ w.astype(np.int64).T
    np.testing.assert_array_equal(dev.get(c, c0), ref)


@pytest.mark.parametrize("m", BATCHES)
@pytest.mark.parametrize("k", [64, 1024, 4160])
def test_s8t2_exact(rt, dev, m, k):
    """Int8 activations (round half even, clamp, NaN -> 0) x ternary: exact."""
    rng = np.random.default_rng(m + k)
    n = 29
    t = rng.integers(-1, 2, (n, k))
    x = (rng.standard_normal((m, k)) * 3).astype(np.float32)
    x[0, 1] = np.nan
    x[0, 2] = 2.5  # halves round to even
    s = (127 / np.maximum(np.abs(np.nan_to_num(x)).max(axis=1), 1e-5)).astype(np.float32)
    s[-1] *= 4  # clamps
    c0 = rng.integers(-100, 100, (m, n)).astype(np.int32)
    c = dev.put(c0)
    rt.qopt_cuda_matmul_s8t2(m, n, k, dev.put(x), k, 1, dev.put(s), 1,
                             dev.put(pack_ternary(t)), k // 4, 1, c, n, 1, 0)
    finish(rt)
    v = np.rint(x * s[:, None])  # float32 product, as the kernel
    q = np.where(np.isnan(x), 0, np.clip(np.nan_to_num(v), -128, 127)).astype(np.int64)
    ref = c0.astype(np.int64) + q @ t.T
    np.testing.assert_array_equal(dev.get(c, c0), ref)


@pytest.mark.parametrize("kernel", ["default", "stream", "block", "0"])
@pytest.mark.parametrize("n,k", [(200, 8192), (64, 128), (1000, 4160), (4099, 2112),
                                 (16384, 1024)])
def test_s8t2_batch1_fused(rt, dev, n, k, kernel, monkeypatch):
    """Batch 1: the streaming kernel (x quantized into shared memory once
    per block, one wave of blocks, each warp an even share of 4-row x
    2048-k items) for large weights, else the block-per-64-rows one
    (QOPT_CUDA_T2_FUSED=stream / block force one; 0: quantize, then the
    GEMV): rows split between warps (atomic sums), a partial last row
    group, K not a multiple of 2048; exact sums."""
    if kernel != "default":
        monkeypatch.setenv("QOPT_CUDA_T2_FUSED", kernel)
    rng = np.random.default_rng(n + k)
    t = rng.integers(-1, 2, (n, k))
    x = (rng.standard_normal((1, k)) * 3).astype(np.float32)
    x[0, 5] = np.nan
    s = np.array([127 / np.abs(np.nan_to_num(x)).max() * 2], np.float32)  # clamps
    c0 = rng.integers(-100, 100, (1, n)).astype(np.int32)
    c = dev.put(c0)
    rt.qopt_cuda_matmul_s8t2(1, n, k, dev.put(x), k, 1, dev.put(s), 1,
                             dev.put(pack_ternary(t)), k // 4, 1, c, n, 1, 0)
    finish(rt)
    v = np.rint(x * s[:, None])
    q = np.where(np.isnan(x), 0, np.clip(np.nan_to_num(v), -128, 127)).astype(np.int64)
    np.testing.assert_array_equal(dev.get(c, c0), c0.astype(np.int64) + q @ t.T)


@pytest.mark.parametrize("m", BATCHES)
@pytest.mark.parametrize("k,offset", [(256, 0), (36, 0), (256, 4)],
                         ids=["vec", "k36", "unaligned"])
def test_f32t2(rt, dev, m, k, offset):
    rng = np.random.default_rng(m)
    n = 19
    t = rng.integers(-1, 2, (n, k))
    x = rng.standard_normal((m, k)).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    c = dev.put(c0)
    rt.qopt_cuda_matmul_f32t2(m, n, k, dev.put(x, offset), k, 1,
                              dev.put(pack_ternary(t)), k // 4, 1, c, n, 1, 0)
    finish(rt)
    np.testing.assert_allclose(dev.get(c, c0), c0 + x.astype(np.float64) @ t.T,
                               rtol=1e-5, atol=1e-4)


def test_stream_calls_queue_without_sync(rt, dev):
    """On a stream of its own a call only queues: the stream's synchronize
    makes the result visible, and a second call accumulates after the first."""
    m, n, k = 2, 64, 256
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (m, k)).astype(np.int8)
    w = rng.integers(-128, 128, (n, k)).astype(np.int8)
    c0 = np.zeros((m, n), np.int32)
    c = dev.put(c0)
    stream = rt.mgpuStreamCreate()
    px, pw = dev.put(x), dev.put(w)
    for _ in range(2):
        rt.qopt_cuda_matmul_s8s8(m, n, k, px, k, 1, pw, k, 1, c, n, 1, 1, stream)
    rt.mgpuStreamSynchronize(stream)
    rt.mgpuStreamDestroy(stream)
    ref = 2 * (x.astype(np.int64) @ w.astype(np.int64).T)
    np.testing.assert_array_equal(dev.get(c, c0), ref)

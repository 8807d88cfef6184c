"""The 2:4 sparse matmuls on the sparse tensor cores (lib/Runtime/CUDA/
Sparse24.cpp, GPUKernels/Sparse24.cu): qopt_cuda_matmul_sparse24_f32 (what
compiled NVPTX models call for a 2:4 layer; precision 0 = bf16 hi + lo,
three mma.sp products; 1 = one f16 product; 2 = f32 FMAs) and
qopt_cuda_matmul_sparse24_f16 (float16 activations) against float64 numpy
products of the same zeroed dense weight and against the dense float32
kernel (qopt_cuda_matmul_f32) on it, and the W8A8 forms
qopt_cuda_matmul_sparse24_{s8s8,u8s8} (int8 mma.sp) against exact int64
sums: over M = 1..100 (every launch shape,
split K), N and K that do not fill a tile, strided x, groups with fewer
than two nonzeros. C starts as a random bias. Skipped without a GPU (CI)."""

import ctypes
import os

import numpy as np
import pytest

import cuda_runtime as cr

I64 = ctypes.c_int64


@pytest.fixture(scope="module")
def rt():
    lib = cr.load_device_or_skip()
    lib.qopt_cuda_matmul_sparse24_f32.argtypes = [I64] * 13
    lib.qopt_cuda_matmul_sparse24_f32.restype = None
    lib.qopt_cuda_matmul_sparse24_f16.argtypes = [I64] * 10
    lib.qopt_cuda_matmul_sparse24_f16.restype = None
    lib.qopt_cuda_sparse24_forget.argtypes = []
    lib.qopt_cuda_sparse24_forget.restype = None
    lib.qopt_cuda_matmul_f32.argtypes = [I64] * 23
    lib.qopt_cuda_matmul_f32.restype = None
    for name in ("s8s8", "u8s8"):
        f = getattr(lib, f"qopt_cuda_matmul_sparse24_{name}")
        f.argtypes = [I64] * 12
        f.restype = None
    return lib


class Dev:
    def __init__(self, rt):
        self.rt, self.ptrs = rt, []

    def put(self, a):
        a = np.ascontiguousarray(a)
        p = ctypes.c_void_p()
        assert self.rt.qopt_cuda_malloc(a.nbytes + 16, ctypes.byref(p)) == 0
        self.ptrs.append(p.value)
        assert self.rt.qopt_cuda_copy_to_device(p.value, a.ctypes.data, a.nbytes) == 0
        return p.value

    def get(self, ptr, like):
        out = np.empty_like(like)
        assert self.rt.qopt_cuda_copy_to_host(out.ctypes.data, ptr, out.nbytes) == 0
        return out

    def free(self):
        # The packed copies are keyed by address: drop them before the
        # memory is reused.
        self.rt.qopt_cuda_sparse24_forget()
        for p in self.ptrs:
            self.rt.qopt_cuda_free(p)


@pytest.fixture
def dev(rt):
    d = Dev(rt)
    yield d
    d.free()


def finish(rt):
    assert rt.qopt_cuda_synchronize(None) == 0, rt.qopt_last_error().decode()


def prune24(rng, n, k):
    """A random [n, k] weight with at most two nonzeros in every 4 along k
    (some groups with one or none)."""
    w = rng.standard_normal((n, k)).astype(np.float32)
    g = w.reshape(n, k // 4, 4)
    order = np.argsort(rng.random(g.shape), axis=-1)
    keep = np.zeros(g.shape, bool)
    np.put_along_axis(keep, order[..., :2], True, axis=-1)
    g = np.where(keep, g, 0)
    g[rng.random((n, k // 4)) < 0.1, :] = 0  # empty groups
    one = rng.random((n, k // 4)) < 0.1
    g[one] = np.where(np.arange(4) == order[one][:, :1], g[one], 0)  # one nonzero
    return g.reshape(n, k)


def pack24(w):
    """qopt/Support/Sparse24.h's storage: values [n, k/2], meta [n, k/8]."""
    n, k = w.shape
    g = w.reshape(n, k // 4, 4)
    values = np.zeros((n, k // 4, 2), np.float32)
    nib = np.zeros((n, k // 4), np.uint8)
    for r in range(n):
        for q in range(k // 4):
            pos = [j for j in range(4) if g[r, q, j] != 0]
            for j in range(4):
                if len(pos) < 2 and j not in pos and g[r, q, j] == 0:
                    pos.append(j)
            pos = sorted(pos[:2])
            values[r, q] = g[r, q, pos]
            nib[r, q] = pos[0] | (pos[1] << 2)
    meta = (nib[:, 0::2] | (nib[:, 1::2] << 4)).astype(np.uint8)
    return values.reshape(n, k // 2), meta


def rel_err(got, ref, a, w):
    scale = np.abs(a).astype(np.float64) @ np.abs(w).astype(np.float64).T + 1
    return float(np.max(np.abs(got - ref) / scale))


MS = [1, 3, 8, 9, 16, 17, 40, 64, 100]
# Tolerance (error over Σ|x||w|) of each precision: three bf16 products
# (about 16 bits), one f16 product (11 bits), f32.
TOL = {0: 2e-5, 1: 2e-3, 2: 1e-5}


@pytest.mark.parametrize("precision", [0, 1, 2], ids=["f32", "tf32", "fma"])
@pytest.mark.parametrize("m", MS)
@pytest.mark.parametrize("n,k", [(64, 128), (100, 200), (48, 1024)])
def test_sparse24_f32(rt, dev, m, n, k, precision):
    rng = np.random.default_rng(m * 1000 + n + k)
    w = prune24(rng, n, k)
    values, meta = pack24(w)
    x = rng.standard_normal((m, k + 8)).astype(np.float32)  # row stride k + 8
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    c = dev.put(c0)
    rt.qopt_cuda_matmul_sparse24_f32(m, n, k, dev.put(x), k + 8, 1, dev.put(values),
                                     dev.put(meta), c, n, 1, precision, 0)
    finish(rt)
    got = dev.get(c, c0)
    xs = x[:, :k]
    ref = c0.astype(np.float64) + xs.astype(np.float64) @ w.astype(np.float64).T
    assert np.isfinite(got).all()
    err = rel_err(got, ref, xs, w)
    assert err <= TOL[precision], err
    # The dense float32 kernel on the same zeroed weight agrees as well.
    cd = dev.put(c0)
    rt.qopt_cuda_matmul_f32(1, 1, m, n, k, dev.put(np.ascontiguousarray(xs)), 0, 0, k,
                            1, dev.put(w), 0, 0, 1, k, cd, 0, 0, n, 1, 0, 0, 0)
    finish(rt)
    assert rel_err(got, dev.get(cd, c0), xs, w) <= TOL[precision]


def test_sparse24_split_k(rt, dev):
    """Few row tiles and a long K: the splits add into C with atomics."""
    rng = np.random.default_rng(7)
    m, n, k = 2, 32, 8192
    w = prune24(rng, n, k)
    values, meta = pack24(w)
    x = rng.standard_normal((m, k)).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    c = dev.put(c0)
    rt.qopt_cuda_matmul_sparse24_f32(m, n, k, dev.put(x), k, 1, dev.put(values),
                                     dev.put(meta), c, n, 1, 0, 0)
    finish(rt)
    ref = c0.astype(np.float64) + x.astype(np.float64) @ w.astype(np.float64).T
    assert rel_err(dev.get(c, c0), ref, x, w) <= TOL[0]


def test_sparse24_column_major_c(rt, dev):
    """C with strides (1, m): the kernel writes C[m, n] at m·cM + n·cN."""
    rng = np.random.default_rng(8)
    m, n, k = 5, 40, 256
    w = prune24(rng, n, k)
    values, meta = pack24(w)
    x = rng.standard_normal((m, k)).astype(np.float32)
    ct = rng.standard_normal((n, m)).astype(np.float32)
    c = dev.put(ct)
    rt.qopt_cuda_matmul_sparse24_f32(m, n, k, dev.put(x), k, 1, dev.put(values),
                                     dev.put(meta), c, 1, m, 0, 0)
    finish(rt)
    ref = ct.T.astype(np.float64) + x.astype(np.float64) @ w.astype(np.float64).T
    assert rel_err(dev.get(c, ct).T, ref, x, w) <= TOL[0]


@pytest.mark.parametrize("m", [1, 16, 128])
def test_sparse24_f16(rt, dev, m):
    """float16 activations and weights, f32 sums: the products of the
    rounded operands to float32 accuracy."""
    rng = np.random.default_rng(m)
    n, k = 272, 512
    w = prune24(rng, n, k)
    values, meta = pack24(w)
    x = rng.standard_normal((m, k)).astype(np.float16)
    c0 = np.zeros((m, n), np.float32)
    c = dev.put(c0)
    rt.qopt_cuda_matmul_sparse24_f16(m, n, k, dev.put(x), dev.put(values), dev.put(meta),
                                     c, n, 1, 0)
    finish(rt)
    wh = w.astype(np.float16).astype(np.float64)
    ref = x.astype(np.float64) @ wh.T
    assert rel_err(dev.get(c, c0), ref, x, w) <= 1e-5


def test_sparse24_errors(rt, dev):
    """k not a multiple of 8 fails with the kernel's name in the message."""
    import subprocess
    import sys
    code = ("import ctypes, sys; sys.path.insert(0, %r); import cuda_runtime as cr;"
            "lib = cr.load(%r); f = lib.qopt_cuda_matmul_sparse24_f32;"
            "f.argtypes = [ctypes.c_int64] * 13;"
            "f(1, 4, 12, 16, 12, 1, 16, 16, 16, 4, 1, 0, 0)"
            % (os.path.dirname(os.path.abspath(__file__)), cr.runtime_path()))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode != 0
    assert "qopt_cuda_matmul_sparse24_f32: k must be a multiple of 8" in r.stderr + r.stdout


@pytest.mark.parametrize("signed", [True, False], ids=["s8s8", "u8s8"])
@pytest.mark.parametrize("m", [1, 5, 8, 9, 32, 40, 100])
@pytest.mark.parametrize("n,k", [(64, 128), (100, 200), (48, 4096)])
def test_sparse24_int8_exact(rt, dev, m, n, k, signed):
    """W8A8 with a 2:4 int8 weight: int32 sums equal int64 numpy ones (the
    extremes -128 and 127 included), C accumulated into, strided x."""
    rng = np.random.default_rng(m * 7 + n + k + signed)
    w = prune24(rng, n, k)
    wq = np.clip(np.rint(w * 60), -128, 127).astype(np.int8)
    wq[0, :4] = [-128, 0, 127, 0]
    values, meta = pack24(wq.astype(np.float32))
    values = values.astype(np.int8)
    lo, hi = (-128, 128) if signed else (0, 256)
    x = rng.integers(lo, hi, (m, k + 16)).astype(np.int8 if signed else np.uint8)
    x[0, 0] = lo
    c0 = rng.integers(-1000, 1000, (m, n)).astype(np.int32)
    c = dev.put(c0)
    fn = rt.qopt_cuda_matmul_sparse24_s8s8 if signed else rt.qopt_cuda_matmul_sparse24_u8s8
    fn(m, n, k, dev.put(x), k + 16, 1, dev.put(values), dev.put(meta), c, n, 1, 0)
    finish(rt)
    ref = c0.astype(np.int64) + x[:, :k].astype(np.int64) @ wq.astype(np.int64).T
    np.testing.assert_array_equal(dev.get(c, c0), ref)

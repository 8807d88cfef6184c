"""The runtime's CUDA layer (lib/Runtime/CUDA/) and GEMV kernels.

Without a GPU (CI): the layer reports why CUDA is unavailable and every entry
point fails cleanly instead of aborting; the embedded PTX is there. With a
GPU: the GEMV kernels match a numpy float64 reference computed from the
dequantized weights, and MLIR's mgpu* host ABI loads and launches a kernel.
"""

import ctypes
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cuda_runtime as cr

ARCHS = ("sm_80", "sm_89", "sm_90")


@pytest.fixture(scope="module")
def rt():
    path = cr.runtime_path()
    if not os.path.exists(path):
        pytest.fail(f"the runtime is not built at {path} (set QOPT_BUILD_DIR "
                    "or QOPT_RUNTIME_LIB)")
    return cr.load(path)


@pytest.fixture(scope="module")
def gpu(rt):
    if not rt.qopt_cuda_available():
        pytest.skip("no CUDA device: " + rt.qopt_cuda_last_error().decode())
    return rt


def run_python(code, **env):
    """Runs `code` in a fresh interpreter (the driver loads once a process)."""
    full_env = dict(os.environ, PYTHONPATH=os.path.dirname(__file__), **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          env=full_env, capture_output=True, text=True,
                          timeout=120)


# --- no GPU needed ------------------------------------------------------------

def test_unavailable_reports_why_and_nothing_aborts(rt):
    if rt.qopt_cuda_available():
        pytest.skip("a CUDA device is present")
    message = rt.qopt_cuda_last_error().decode()
    assert "CUDA" in message, message
    assert rt.qopt_cuda_device_count() == 0
    assert rt.qopt_cuda_driver_version() == 0
    # The C API fails with the reason, in both error getters.
    ptr = ctypes.c_void_p()
    assert rt.qopt_cuda_malloc(16, ctypes.byref(ptr)) != 0
    assert "CUDA" in rt.qopt_last_error().decode()
    args = cr.GemvArgs(format=cr.F16, x=16, weight=16, y=16, batch=1, n=16,
                       k=16)
    assert rt.qopt_cuda_gemv(ctypes.byref(args), None) != 0
    assert "CUDA" in rt.qopt_cuda_last_error().decode()
    # MLIR's host functions return null handles and report, never abort.
    rt.qopt_cuda_clear_error()
    assert rt.mgpuStreamCreate() is None
    assert "mgpuStreamCreate" in rt.qopt_cuda_last_error().decode()
    assert rt.mgpuMemAlloc(64, None, False) is None
    assert rt.mgpuModuleLoadJIT(ctypes.c_char_p(b"// no ptx"), 2) is None
    assert rt.mgpuModuleGetFunction(None, b"k") is None
    rt.mgpuLaunchKernel(None, 1, 1, 1, 1, 1, 1, 0, None, None, None, 0)
    rt.mgpuMemcpy(None, None, 16, None)
    rt.mgpuStreamSynchronize(None)
    rt.mgpuMemFree(None, None)
    rt.mgpuModuleUnload(None)
    assert rt.mgpuEventCreate() is None
    # The constants' cache and the pools fail (or do nothing) just as quietly.
    buf = np.zeros(4, np.float32)
    rt.qopt_cuda_clear_error()
    assert rt.qopt_cuda_constant(buf.ctypes.data, buf.nbytes) is None
    assert "qopt_cuda_constant" in rt.qopt_cuda_last_error().decode()
    assert rt.mgpuMemAlloc(64, None, True) is None
    assert rt.qopt_cuda_release_cached() == 0


def test_missing_driver_library_is_named():
    out = run_python("""
        import cuda_runtime as cr
        rt = cr.load()
        print(rt.qopt_cuda_available(), rt.qopt_cuda_last_error().decode())
    """, QOPT_CUDA_DRIVER="/nonexistent/libcuda.so.1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("0 no CUDA driver: cannot load "
                                 "/nonexistent/libcuda.so.1"), out.stdout


def stub_driver():
    for root in (os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        for sub in ("lib64/stubs", "lib/stubs", "targets/x86_64-linux/lib/stubs"):
            if root and os.path.exists(os.path.join(root, sub, "libcuda.so")):
                return os.path.join(root, sub, "libcuda.so")
    return None


def test_stub_driver_is_recognized():
    stub = stub_driver()
    if not stub:
        pytest.skip("no CUDA toolkit stub libcuda.so here")
    out = run_python("""
        import cuda_runtime as cr
        rt = cr.load()
        print(rt.qopt_cuda_available(), rt.qopt_cuda_last_error().decode())
        print(rt.mgpuStreamCreate())
    """, QOPT_CUDA_DRIVER=stub)
    assert out.returncode == 0, out.stderr
    assert "stub library" in out.stdout, out.stdout
    assert out.stdout.startswith("0 "), out.stdout
    assert "mgpuStreamCreate" in out.stderr


def test_embedded_ptx(rt):
    ptx = {arch: rt.qopt_cuda_gemv_ptx(arch.encode()) for arch in ARCHS}
    if not any(ptx.values()):
        pytest.skip("runtime built without nvcc: no embedded PTX")
    for arch, text in ptx.items():
        assert text, f"no PTX for {arch}"
        text = text.decode()
        assert f".target {arch}" in text
        for fmt in ("f16", "i8", "i4", "u4"):
            for nt in (1, 2):
                for mt in (1, 2):
                    assert f".entry qopt_gemv_{fmt}_n{nt}_m{mt}(" in text
        assert "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32" in text
        assert ("cp.async.cg.shared.global" in text or
                "ld.global.nc.L1::no_allocate.v4.u32" in text)
    assert rt.qopt_cuda_gemv_ptx(b"sm_75") is None


# --- GPU ------------------------------------------------------------------------

class Device:
    """Device buffers freed at the end of a test."""

    def __init__(self, rt):
        self.rt = rt
        self.ptrs = []

    def alloc(self, nbytes):
        ptr = ctypes.c_void_p()
        assert self.rt.qopt_cuda_malloc(max(nbytes, 16), ctypes.byref(ptr)) == 0, \
            self.rt.qopt_last_error()
        self.ptrs.append(ptr.value)
        return ptr.value

    def put(self, array):
        array = np.ascontiguousarray(array)
        ptr = self.alloc(array.nbytes)
        assert self.rt.qopt_cuda_copy_to_device(ptr, array.ctypes.data,
                                                array.nbytes) == 0
        return ptr

    def get(self, ptr, shape, dtype):
        out = np.empty(shape, dtype)
        assert self.rt.qopt_cuda_copy_to_host(out.ctypes.data, ptr,
                                              out.nbytes) == 0
        return out

    def free(self):
        for p in self.ptrs:
            self.rt.qopt_cuda_free(p)


@pytest.fixture
def dev(gpu):
    d = Device(gpu)
    yield d
    d.free()


def make_weights(rng, fmt, n, k, group, scale_dtype):
    w = rng.standard_normal((n, k)) * 0.05
    zeros = scales = None
    if fmt == cr.F16:
        weight = w.astype(np.float16)
    elif fmt == cr.INT8:
        weight, scales = cr.quantize_int8(w)
    else:
        weight, scales, zeros, _ = cr.quantize_int4(w, group, fmt == cr.UINT4)
    if scales is not None and scale_dtype == cr.DTYPE_F32:
        # Not representable in f16: the f32 path must not round them.
        scales = scales.astype(np.float32) * np.float32(1.0001)
    return weight, scales, zeros


def run_gemv(dev, fmt, batch, n, k, group=128, scale_dtype=cr.DTYPE_F16,
             bias=False, seed=0, tuned=None, x_mean=0.0):
    rng = np.random.default_rng(seed)
    weight, scales, zeros = make_weights(rng, fmt, n, k, group, scale_dtype)
    x = (rng.standard_normal((batch, k)) + x_mean).astype(np.float16)
    b = rng.standard_normal(n).astype(np.float16) if bias else None
    args = cr.GemvArgs(format=fmt, x=dev.put(x), weight=dev.put(weight),
                       scales=dev.put(scales) if scales is not None else None,
                       scale_dtype=scale_dtype,
                       zero_points=dev.put(zeros) if zeros is not None else None,
                       bias=dev.put(b) if bias else None,
                       batch=batch, n=n, k=k, group_size=group)
    # Poisoned output: every element must be written.
    args.y = dev.put(np.full((batch, n), np.nan, np.float16))
    rt = dev.rt
    if tuned:
        status = rt.qopt_cuda_gemv_tuned(ctypes.byref(args), None, *tuned)
    else:
        status = rt.qopt_cuda_gemv(ctypes.byref(args), None)
    assert status == 0, rt.qopt_last_error().decode()
    assert rt.qopt_cuda_synchronize(None) == 0, rt.qopt_last_error().decode()
    y = dev.get(args.y, (batch, n), np.float16).astype(np.float64)
    wd = cr.dequantize(fmt, weight, scales, zeros, group, n, k)
    ref = x.astype(np.float64) @ wd.T
    if bias:
        ref += b.astype(np.float64)
    return y, ref


def check_close(y, ref):
    assert np.isfinite(y).all(), "unwritten (NaN) outputs"
    rel = np.linalg.norm(y - ref) / np.linalg.norm(ref)
    worst = np.abs(y - ref).max() / np.abs(ref).max()
    # float16 output rounding is 2^-11 relative; sums are float32.
    assert rel < 1e-3 and worst < 2e-3, (rel, worst)


@pytest.mark.parametrize("fmt", [cr.F16, cr.INT8, cr.INT4, cr.UINT4],
                         ids=["f16", "int8", "int4", "uint4"])
@pytest.mark.parametrize("batch", [1, 3, 8, 9, 16, 21])
def test_gemv_matches_numpy(dev, fmt, batch):
    y, ref = run_gemv(dev, fmt, batch, n=200, k=1024, seed=batch)
    check_close(y, ref)


@pytest.mark.parametrize("fmt,k,group", [
    (cr.F16, 40, 128),      # k not a multiple of a warp step (32)
    (cr.F16, 4104, 128),
    (cr.INT8, 48, 128),     # partial step (64)
    (cr.INT8, 4112, 128),
    (cr.INT4, 384, 128),
    (cr.INT4, 1536, 256),
    (cr.UINT4, 2048, 512),
])
def test_gemv_shapes(dev, fmt, k, group):
    y, ref = run_gemv(dev, fmt, 2, n=37, k=k, group=group, seed=k)
    check_close(y, ref)


@pytest.mark.parametrize("fmt,batch", [(cr.INT4, 1), (cr.UINT4, 5),
                                       (cr.F16, 12), (cr.INT8, 16)])
def test_gemv_wide_layers(dev, fmt, batch):
    # N >= 8192 picks the two-tile cp.async kernels automatically.
    y, ref = run_gemv(dev, fmt, batch, n=8200, k=512, seed=batch)
    check_close(y, ref)


@pytest.mark.parametrize("fmt", [cr.INT8, cr.INT4, cr.UINT4],
                         ids=["int8", "int4", "uint4"])
def test_gemv_f32_scales_and_bias(dev, fmt):
    y, ref = run_gemv(dev, fmt, 4, n=96, k=512, scale_dtype=cr.DTYPE_F32,
                      bias=True)
    check_close(y, ref)


@pytest.mark.parametrize("tuned", [(1, 1), (1, 4), (2, 8), (2, 3)])
@pytest.mark.parametrize("fmt", [cr.F16, cr.INT8, cr.INT4, cr.UINT4],
                         ids=["f16", "int8", "int4", "uint4"])
def test_gemv_launch_shapes(dev, fmt, tuned):
    y, ref = run_gemv(dev, fmt, 5, n=130, k=2048, tuned=tuned)
    check_close(y, ref)


@pytest.mark.parametrize("fmt", [cr.INT4, cr.UINT4], ids=["int4", "uint4"])
@pytest.mark.parametrize("batch,k,group,tuned", [
    (1, 8192, 128, None),     # x staged in shared memory (2 * batch * k small)
    (8, 4096, 128, None),     # x too large to stage: read from global memory
    (8, 4096, 128, (2, 8)),
    (3, 1536, 384, (1, 8)),   # a group of 3 steps (not a power of two)
    (12, 1024, 512, (2, 4)),  # two batch tiles, staged
])
def test_gemv_int4_paths(dev, fmt, batch, k, group, tuned):
    y, ref = run_gemv(dev, fmt, batch, n=300, k=k, group=group, seed=k + batch,
                      tuned=tuned)
    check_close(y, ref)


@pytest.mark.parametrize("fmt", [cr.INT4, cr.UINT4], ids=["int4", "uint4"])
@pytest.mark.parametrize("batch", [1, 4])
def test_gemv_int4_zero_point_cancellation(dev, fmt, batch):
    # The int4 kernels take the zero point (8 for signed nibbles) off each
    # group's sum as z * sum(x): with x far from zero mean that difference
    # cancels most of its bits, and must still be float32-accurate.
    y, ref = run_gemv(dev, fmt, batch, n=256, k=4096, seed=batch, x_mean=6.0)
    check_close(y, ref)


def test_gemv_rejects_bad_arguments(dev):
    rt = dev.rt
    buf = dev.alloc(1 << 16)
    cases = [
        (dict(format=cr.F16, k=12), "multiple of 8"),
        (dict(format=cr.INT8, k=24, scales=buf), "multiple of 16"),
        (dict(format=cr.INT4, k=256, group_size=64, scales=buf), "group size"),
        (dict(format=cr.INT4, k=384, group_size=256, scales=buf), "group size"),
        (dict(format=cr.UINT4, k=256, scales=buf), "zero points"),
        (dict(format=cr.INT8, k=256), "scales"),
        (dict(format=cr.INT8, k=256, scales=buf, scale_dtype=cr.DTYPE_F32 + 5),
         "float16 or float32"),
        (dict(format=cr.F16, k=256, x=buf + 2), "16-byte aligned"),
        (dict(format=cr.F16, k=256, batch=0), "positive"),
        (dict(format=7, k=256), "unknown weight format"),
    ]
    for fields, message in cases:
        a = dict(x=buf, weight=buf, y=buf, batch=1, n=16, group_size=128,
                 scale_dtype=cr.DTYPE_F16)
        a.update(fields)
        args = cr.GemvArgs(**a)
        assert rt.qopt_cuda_gemv(ctypes.byref(args), None) != 0, fields
        assert message in rt.qopt_last_error().decode(), \
            (fields, rt.qopt_last_error())


# A kernel as MLIR's NVPTX pipeline would embed it: y[i] = x[i] + 1.
ADD_ONE_PTX = b"""
.version 7.0
.target sm_80
.address_size 64
.visible .entry add_one(.param .u64 p, .param .u32 n)
{
  .reg .pred %p<2>; .reg .b32 %r<6>; .reg .b64 %rd<4>; .reg .f32 %f<3>;
  ld.param.u64 %rd1, [p];
  ld.param.u32 %r1, [n];
  mov.u32 %r2, %ctaid.x; mov.u32 %r3, %ntid.x; mov.u32 %r4, %tid.x;
  mad.lo.s32 %r5, %r2, %r3, %r4;
  setp.ge.u32 %p1, %r5, %r1;
  @%p1 bra DONE;
  cvta.to.global.u64 %rd2, %rd1;
  mul.wide.u32 %rd3, %r5, 4;
  add.s64 %rd2, %rd2, %rd3;
  ld.global.f32 %f1, [%rd2];
  add.f32 %f2, %f1, 0f3F800000;
  st.global.f32 [%rd2], %f2;
DONE:
  ret;
}
"""


def test_mgpu_abi_runs_a_kernel(gpu):
    rt = gpu
    rt.mgpuSetDefaultDevice(0)
    module = rt.mgpuModuleLoadJIT(ctypes.c_char_p(ADD_ONE_PTX), 2)
    assert module, rt.qopt_cuda_last_error()
    fn = rt.mgpuModuleGetFunction(module, b"add_one")
    assert fn, rt.qopt_cuda_last_error()
    stream = rt.mgpuStreamCreate()
    assert stream
    n = 1000
    host = np.arange(n, dtype=np.float32)
    dptr = rt.mgpuMemAlloc(host.nbytes, stream, False)
    assert dptr
    rt.mgpuMemset32(dptr, 0x7FC00000, n, stream)  # NaN: must be overwritten
    rt.mgpuMemcpy(dptr, host.ctypes.data, host.nbytes, stream)
    p = ctypes.c_void_p(dptr)
    count = ctypes.c_uint32(n)
    params = (ctypes.c_void_p * 2)(ctypes.cast(ctypes.byref(p), ctypes.c_void_p),
                                   ctypes.cast(ctypes.byref(count), ctypes.c_void_p))
    rt.qopt_cuda_clear_error()
    rt.mgpuLaunchKernel(fn, 4, 1, 1, 256, 1, 1, 0, stream, params, None, 2)
    event = rt.mgpuEventCreate()
    rt.mgpuEventRecord(event, stream)
    other = rt.mgpuStreamCreate()
    rt.mgpuStreamWaitEvent(other, event)
    out = np.zeros(n, np.float32)
    rt.mgpuMemcpy(out.ctypes.data, dptr, out.nbytes, other)
    rt.mgpuStreamSynchronize(other)
    rt.mgpuEventSynchronize(event)
    assert rt.qopt_cuda_last_error() == b""
    np.testing.assert_array_equal(out, host + 1)
    # float16 memset: 0x3C00 is 1.0.
    rt.mgpuMemset16(dptr, 0x3C00, 2 * n, stream)
    rt.mgpuStreamSynchronize(stream)
    half = np.zeros(2 * n, np.float16)
    assert rt.qopt_cuda_copy_to_host(half.ctypes.data, dptr, half.nbytes) == 0
    assert (half == 1).all()
    rt.mgpuMemFree(dptr, stream)
    rt.mgpuEventDestroy(event)
    rt.mgpuStreamDestroy(other)
    rt.mgpuStreamDestroy(stream)
    rt.mgpuModuleUnload(module)
    assert rt.qopt_cuda_last_error() == b""


def test_managed_buffers_and_streams_are_reused(gpu):
    """Compiled artifacts allocate and free every buffer and stream on each
    call: freed managed blocks come back for the same size (contents kept
    resident), streams likewise; qopt_cuda_release_cached returns them to the
    driver. Device memory (not host_shared) is never cached."""
    rt = gpu
    rt.qopt_cuda_clear_error()
    stream = rt.mgpuStreamCreate()
    a = rt.mgpuMemAlloc(4096, stream, True)
    assert a
    host = np.arange(1024, dtype=np.float32)
    rt.mgpuMemcpy(a, host.ctypes.data, host.nbytes, stream)
    rt.mgpuStreamSynchronize(stream)
    rt.mgpuMemFree(a, stream)
    b = rt.mgpuMemAlloc(4096, stream, True)
    assert b == a
    c = rt.mgpuMemAlloc(8192, stream, True)  # another size: a new block
    assert c and c != a
    out = np.zeros(1024, np.float32)
    rt.mgpuMemcpy(out.ctypes.data, b, out.nbytes, stream)
    rt.mgpuStreamSynchronize(stream)
    np.testing.assert_array_equal(out, host)
    rt.mgpuMemFree(b, stream)
    rt.mgpuMemFree(c, stream)
    rt.mgpuStreamDestroy(stream)
    assert rt.mgpuStreamCreate() == stream
    rt.mgpuStreamDestroy(stream)
    d = rt.mgpuMemAlloc(4096, None, False)
    rt.mgpuMemFree(d, None)
    assert rt.qopt_cuda_release_cached() == 0
    assert rt.qopt_cuda_last_error() == b""


def test_constants_are_uploaded_once(gpu):
    """qopt_cuda_constant: one GPU copy per host constant (same pointer on
    every call, the data copied once), a new copy when the size differs."""
    rt = gpu
    rt.qopt_cuda_clear_error()
    host = np.arange(4096, dtype=np.float32)
    a = rt.qopt_cuda_constant(host.ctypes.data, host.nbytes)
    assert a, rt.qopt_cuda_last_error()
    host[:] = -1  # the cached copy keeps the first contents
    assert rt.qopt_cuda_constant(host.ctypes.data, host.nbytes) == a
    out = np.zeros(4096, np.float32)
    assert rt.qopt_cuda_copy_to_host(out.ctypes.data, a, out.nbytes) == 0
    np.testing.assert_array_equal(out, np.arange(4096, dtype=np.float32))
    b = rt.qopt_cuda_constant(host.ctypes.data, 1024)
    assert b and b != a
    assert rt.qopt_cuda_constant(None, 16) is None
    assert rt.qopt_cuda_last_error() == b""


def test_mgpu_bad_ptx_reports_the_jit_log(gpu):
    rt = gpu
    rt.qopt_cuda_clear_error()
    module = rt.mgpuModuleLoadJIT(ctypes.c_char_p(b".version 7.0\n.target sm_80\n"
                                                  b"garbage;\n"), 2)
    assert module is None
    message = rt.qopt_cuda_last_error().decode()
    assert "mgpuModuleLoadJIT" in message and "CUDA_ERROR" in message, message
    assert rt.mgpuModuleGetFunction(None, b"k") is None
    rt.mgpuLaunchKernel(None, 1, 1, 1, 1, 1, 1, 0, None, None, None, 0)
    assert "no kernel" in rt.qopt_cuda_last_error().decode()


def test_device_info(gpu):
    name = ctypes.create_string_buffer(128)
    major, minor, sms = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    mem = ctypes.c_size_t()
    assert gpu.qopt_cuda_device_info(0, name, 128, ctypes.byref(major),
                                     ctypes.byref(minor), ctypes.byref(sms),
                                     ctypes.byref(mem)) == 0
    assert name.value and major.value >= 5 and sms.value > 0 and mem.value > 0
    assert gpu.qopt_cuda_driver_version() >= 11000
    assert gpu.qopt_cuda_device_info(99, None, 0, None, None, None, None) != 0

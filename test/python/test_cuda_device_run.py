"""qopt_cuda_model_run (qopt_cuda.h): compiled NVPTX artifacts on device-
resident inputs and outputs, and quant-run --device=cuda --device-io.

Without a GPU (CI): the C API's error paths (null model, an artifact of
another target, CUDA unavailable) and quant-run's option check. With a GPU:
the call on device buffers (new outputs and outputs written in place)
matches qopt_model_run's and the CPU artifact's outputs; host-memory inputs,
wrong-shape and aliasing outputs are refused with a message.
test/gpu/check_models.py --device-io runs every bundled model this way."""

import ctypes
import os
import subprocess

import numpy as np
import pytest

import cuda_runtime as cr
import make_examples

F32 = cr.DTYPE_F32


def tool(build_dir, name, *args):
    return subprocess.run([os.path.join(build_dir, "bin", name),
                           *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def rt(build_dir):
    path = os.path.join(build_dir, "lib", "libqopt_runtime.so")
    # Artifacts resolve the runtime's functions from the global scope.
    ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    lib = cr.load(path)
    vp, i = ctypes.c_void_p, ctypes.c_int
    pp = ctypes.POINTER(vp)
    lib.qopt_cuda_model_run.argtypes = [vp, pp, i, pp, i, vp]
    lib.qopt_cuda_model_run.restype = i
    lib.qopt_model_load.argtypes = [ctypes.c_char_p, pp]
    lib.qopt_model_load.restype = i
    lib.qopt_model_free.argtypes = [vp]
    lib.qopt_model_run.argtypes = [vp, pp, i, pp, i]
    lib.qopt_model_run.restype = i
    lib.qopt_tensor_create_view.argtypes = [
        i, i, ctypes.POINTER(ctypes.c_int64), vp, vp, vp, pp]
    lib.qopt_tensor_create_view.restype = i
    lib.qopt_tensor_free.argtypes = [vp]
    lib.qopt_tensor_data.argtypes = [vp]
    lib.qopt_tensor_data.restype = vp
    lib.qopt_tensor_rank.argtypes = [vp]
    lib.qopt_tensor_dims.argtypes = [vp]
    lib.qopt_tensor_dims.restype = ctypes.POINTER(ctypes.c_int64)
    lib.qopt_tensor_byte_size.argtypes = [vp]
    lib.qopt_tensor_byte_size.restype = ctypes.c_size_t
    return lib


@pytest.fixture(scope="module")
def example(tmp_path_factory, build_dir):
    root = tmp_path_factory.mktemp("devrun")
    make_examples.write_model(str(root), "mlp", calib=4, eval_=1)
    m = root / "mlp"
    assert tool(build_dir, "quant-compile", m / "model.onnx", "-o",
                m / "cpu.so").returncode == 0
    r = tool(build_dir, "quant-compile", m / "model.onnx", "--target=nvptx",
             "--gpu-arch=sm_90", "-o", m / "gpu.so")
    assert r.returncode == 0, r.stderr
    sample = sorted(os.listdir(m / "eval"))[0]
    return m, m / "eval" / sample / "input.npy"


def load_model(rt, path):
    model = ctypes.c_void_p()
    assert rt.qopt_model_load(str(path).encode(), ctypes.byref(model)) == 0, \
        rt.qopt_last_error()
    return model


def view(rt, data_ptr, shape, dtype=F32):
    dims = (ctypes.c_int64 * len(shape))(*shape)
    t = ctypes.c_void_p()
    assert rt.qopt_tensor_create_view(dtype, len(shape), dims, data_ptr, None,
                                      None, ctypes.byref(t)) == 0, \
        rt.qopt_last_error()
    return t


def test_null_model_and_other_target(rt, example):
    outs = (ctypes.c_void_p * 1)()
    assert rt.qopt_cuda_model_run(None, None, 0, outs, 1, None) != 0
    assert "null model" in rt.qopt_last_error().decode()
    # A CPU artifact is refused before CUDA is touched (no GPU needed).
    model = load_model(rt, example[0] / "cpu.so")
    try:
        x = np.load(example[1]).astype(np.float32)
        t = view(rt, x.ctypes.data, x.shape)
        ins = (ctypes.c_void_p * 1)(t)
        assert rt.qopt_cuda_model_run(model, ins, 1, outs, 1, None) != 0
        msg = rt.qopt_last_error().decode()
        assert "compiled for target 'cpu'" in msg and "--target=nvptx" in msg
        rt.qopt_tensor_free(t)
    finally:
        rt.qopt_model_free(model)


def test_without_gpu_says_why(rt, example):
    if rt.qopt_cuda_available():
        pytest.skip("a CUDA device is present")
    # The artifact loads (its kernel modules fail to load, reported) and the
    # device run says why it cannot run.
    model = load_model(rt, example[0] / "gpu.so")
    try:
        x = np.load(example[1]).astype(np.float32)
        t = view(rt, x.ctypes.data, x.shape)
        outs = (ctypes.c_void_p * 1)()
        assert rt.qopt_cuda_model_run(model, (ctypes.c_void_p * 1)(t), 1, outs,
                                      1, None) != 0
        assert "CUDA" in rt.qopt_last_error().decode()
        assert outs[0] is None
        rt.qopt_tensor_free(t)
    finally:
        rt.qopt_model_free(model)


def test_result_hook_without_device_run_is_host_memory(rt):
    # What artifacts call for each result outside qopt_cuda_model_run:
    # ordinary host memory (freed with free()).
    rt.qopt_cuda_result.argtypes = [ctypes.c_int64, ctypes.c_int64]
    rt.qopt_cuda_result.restype = ctypes.c_int64
    p = rt.qopt_cuda_result(0, 64)
    assert p != 0
    ctypes.memset(p, 7, 64)
    assert ctypes.string_at(p, 64) == b"\x07" * 64
    ctypes.CDLL(None).free(ctypes.c_void_p(p))


def test_quant_run_device_io_needs_cuda(build_dir, example):
    r = tool(build_dir, "quant-run", example[0] / "cpu.so", "--device-io",
             "--input", f"input={example[1]}")
    assert r.returncode != 0
    assert "--device-io: needs --device=cuda" in r.stderr


def test_device_io_matches_or_says_why(build_dir, rt, example, tmp_path):
    m, x = example
    r = tool(build_dir, "quant-run", m / "gpu.so", "--device=cuda",
             "--device-io", "--input", f"input={x}", "--output-dir",
             tmp_path / "d")
    if not rt.qopt_cuda_available():
        assert r.returncode != 0 and "--device=cuda:" in r.stderr
        assert "Segmentation" not in r.stderr
        pytest.skip("no CUDA device: " + r.stderr.strip())
    assert r.returncode == 0, r.stderr
    assert tool(build_dir, "quant-run", m / "cpu.so", "--input", f"input={x}",
                "--output-dir", tmp_path / "c").returncode == 0
    np.testing.assert_allclose(np.load(tmp_path / "d" / "logits.npy"),
                               np.load(tmp_path / "c" / "logits.npy"),
                               rtol=1e-4, atol=1e-5)


def test_c_api_on_device_buffers(rt, example):
    if not rt.qopt_cuda_available():
        pytest.skip("no CUDA device: " + rt.qopt_cuda_last_error().decode())
    m, xpath = example
    model = load_model(rt, m / "gpu.so")
    x = np.load(xpath).astype(np.float32)
    host_in = view(rt, x.ctypes.data, x.shape)
    # The reference: the ordinary call from host memory.
    ref_out = (ctypes.c_void_p * 1)()
    assert rt.qopt_model_run(model, (ctypes.c_void_p * 1)(host_in), 1,
                             ref_out, 1) == 0, rt.qopt_last_error()
    rank = rt.qopt_tensor_rank(ref_out[0])
    shape = [rt.qopt_tensor_dims(ref_out[0])[i] for i in range(rank)]
    ref = np.ctypeslib.as_array(
        ctypes.cast(rt.qopt_tensor_data(ref_out[0]),
                    ctypes.POINTER(ctypes.c_float)), shape=shape).copy()
    # Host memory is refused.
    outs = (ctypes.c_void_p * 1)()
    assert rt.qopt_cuda_model_run(model, (ctypes.c_void_p * 1)(host_in), 1,
                                  outs, 1, None) != 0
    assert "ordinary host memory" in rt.qopt_last_error().decode()
    dx = ctypes.c_void_p()
    assert rt.qopt_cuda_malloc(x.nbytes, ctypes.byref(dx)) == 0
    assert rt.qopt_cuda_copy_to_device(dx, x.ctypes.data, x.nbytes) == 0
    dev_in = view(rt, dx, x.shape)
    ins = (ctypes.c_void_p * 1)(dev_in)
    # A new device output.
    outs = (ctypes.c_void_p * 1)()
    assert rt.qopt_cuda_model_run(model, ins, 1, outs, 1, None) == 0, \
        rt.qopt_last_error()
    got = np.empty(shape, np.float32)
    assert rt.qopt_tensor_byte_size(outs[0]) == got.nbytes
    assert rt.qopt_cuda_copy_to_host(got.ctypes.data,
                                     rt.qopt_tensor_data(outs[0]),
                                     got.nbytes) == 0
    np.testing.assert_array_equal(got, ref)
    # Written in place into the caller's tensor, poisoned first.
    nan = np.full(shape, np.nan, np.float32)
    assert rt.qopt_cuda_copy_to_device(rt.qopt_tensor_data(outs[0]),
                                       nan.ctypes.data, nan.nbytes) == 0
    assert rt.qopt_cuda_model_run(model, ins, 1, outs, 1, None) == 0, \
        rt.qopt_last_error()
    got[:] = 0
    assert rt.qopt_cuda_copy_to_host(got.ctypes.data,
                                     rt.qopt_tensor_data(outs[0]),
                                     got.nbytes) == 0
    np.testing.assert_array_equal(got, ref)
    # A given output of another shape, or the input's own buffer.
    wrong = view(rt, rt.qopt_tensor_data(outs[0]), [1] + shape)
    assert rt.qopt_cuda_model_run(model, ins, 1,
                                  (ctypes.c_void_p * 1)(wrong), 1, None) != 0
    assert "output 'logits'" in rt.qopt_last_error().decode()
    alias = view(rt, dx, shape) if np.prod(shape) * 4 <= x.nbytes else None
    if alias:
        assert rt.qopt_cuda_model_run(model, ins, 1,
                                      (ctypes.c_void_p * 1)(alias), 1,
                                      None) != 0
        assert "also an input" in rt.qopt_last_error().decode()
        rt.qopt_tensor_free(alias)
    for t in (wrong, outs[0], dev_in, host_in, ref_out[0]):
        rt.qopt_tensor_free(t)
    rt.qopt_cuda_free(dx)
    rt.qopt_model_free(model)


# --- CUDA graphs (qopt_cuda_model_run_graph, quant-run --cuda-graph) -------


@pytest.fixture(scope="module")
def grt(rt):
    vp, i = ctypes.c_void_p, ctypes.c_int
    pp = ctypes.POINTER(vp)
    rt.qopt_cuda_model_run_graph.argtypes = [vp, pp, i, pp, i, vp]
    rt.qopt_cuda_model_run_graph.restype = i
    rt.qopt_cuda_graph_note.restype = ctypes.c_char_p
    return rt


def test_graph_null_model_and_other_target(grt, example):
    outs = (ctypes.c_void_p * 1)()
    assert grt.qopt_cuda_model_run_graph(None, None, 0, outs, 1, None) != 0
    assert "null model" in grt.qopt_last_error().decode()
    model = load_model(grt, example[0] / "cpu.so")
    try:
        x = np.load(example[1]).astype(np.float32)
        t = view(grt, x.ctypes.data, x.shape)
        assert grt.qopt_cuda_model_run_graph(model, (ctypes.c_void_p * 1)(t), 1,
                                             outs, 1, None) != 0
        assert "compiled for target 'cpu'" in grt.qopt_last_error().decode()
        rt_note = grt.qopt_cuda_graph_note().decode()
        assert rt_note == ""  # refused before choosing
        grt.qopt_tensor_free(t)
    finally:
        grt.qopt_model_free(model)


def test_graph_without_gpu_says_why(grt, example):
    if grt.qopt_cuda_available():
        pytest.skip("a CUDA device is present")
    model = load_model(grt, example[0] / "gpu.so")
    try:
        x = np.load(example[1]).astype(np.float32)
        t = view(grt, x.ctypes.data, x.shape)
        outs = (ctypes.c_void_p * 1)()
        assert grt.qopt_cuda_model_run_graph(model, (ctypes.c_void_p * 1)(t), 1,
                                             outs, 1, None) != 0
        assert "CUDA" in grt.qopt_last_error().decode()
        grt.qopt_tensor_free(t)
    finally:
        grt.qopt_model_free(model)


def test_quant_run_cuda_graph_needs_device_io(build_dir, example):
    r = tool(build_dir, "quant-run", example[0] / "gpu.so", "--device=cuda",
             "--cuda-graph", "--input", f"input={example[1]}")
    assert r.returncode != 0
    assert "--cuda-graph: needs --device=cuda --device-io" in r.stderr


def test_quant_run_cuda_graph_matches_or_says_why(build_dir, rt, example,
                                                  tmp_path):
    m, x = example
    r = tool(build_dir, "quant-run", m / "gpu.so", "--device=cuda",
             "--device-io", "--cuda-graph", "--input", f"input={x}",
             "--output-dir", tmp_path / "g")
    if not rt.qopt_cuda_available():
        assert r.returncode != 0 and "--device=cuda:" in r.stderr
        pytest.skip("no CUDA device: " + r.stderr.strip())
    assert r.returncode == 0, r.stderr
    notes = [l.split(": ", 2)[2] for l in r.stderr.splitlines()
             if l.startswith("quant-run: cuda graph: call")]
    assert notes[0].startswith("not captured: every output buffer")
    assert notes[1:] == ["warm-up (the next call with these buffers captures)",
                         "captured", "replayed"], r.stderr
    assert tool(build_dir, "quant-run", m / "cpu.so", "--input", f"input={x}",
                "--output-dir", tmp_path / "c").returncode == 0
    np.testing.assert_allclose(np.load(tmp_path / "g" / "logits.npy"),
                               np.load(tmp_path / "c" / "logits.npy"),
                               rtol=1e-4, atol=1e-5)


def test_graph_c_api_replays_new_input_values(grt, example):
    if not grt.qopt_cuda_available():
        pytest.skip("no CUDA device: " + grt.qopt_cuda_last_error().decode())
    m, xpath = example
    model = load_model(grt, m / "gpu.so")
    x0 = np.load(xpath).astype(np.float32)
    rng = np.random.default_rng(1)
    xs = [x0] + [rng.standard_normal(x0.shape).astype(np.float32)
                 for _ in range(3)]

    def reference(x):
        t = view(grt, x.ctypes.data, x.shape)
        out = (ctypes.c_void_p * 1)()
        assert grt.qopt_model_run(model, (ctypes.c_void_p * 1)(t), 1, out,
                                  1) == 0, grt.qopt_last_error()
        rank = grt.qopt_tensor_rank(out[0])
        shape = [grt.qopt_tensor_dims(out[0])[i] for i in range(rank)]
        ref = np.ctypeslib.as_array(
            ctypes.cast(grt.qopt_tensor_data(out[0]),
                        ctypes.POINTER(ctypes.c_float)), shape=shape).copy()
        grt.qopt_tensor_free(out[0])
        grt.qopt_tensor_free(t)
        return ref

    refs = [reference(x) for x in xs]
    dx, dy, dy2 = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
    nbytes = refs[0].nbytes
    assert grt.qopt_cuda_malloc(x0.nbytes, ctypes.byref(dx)) == 0
    assert grt.qopt_cuda_malloc(nbytes, ctypes.byref(dy)) == 0
    assert grt.qopt_cuda_malloc(nbytes, ctypes.byref(dy2)) == 0
    ins = (ctypes.c_void_p * 1)(view(grt, dx, x0.shape))
    outs = (ctypes.c_void_p * 1)(view(grt, dy, refs[0].shape))
    nan = np.full(refs[0].shape, np.nan, np.float32)
    got = np.empty_like(refs[0])
    notes = []
    # Every call sees the input's current contents (a replay reads them).
    for x, ref in zip(xs, refs):
        assert grt.qopt_cuda_copy_to_device(dx, x.ctypes.data, x.nbytes) == 0
        assert grt.qopt_cuda_copy_to_device(dy, nan.ctypes.data, nbytes) == 0
        assert grt.qopt_cuda_model_run_graph(model, ins, 1, outs, 1,
                                             None) == 0, grt.qopt_last_error()
        notes.append(grt.qopt_cuda_graph_note().decode())
        assert grt.qopt_cuda_copy_to_host(got.ctypes.data, dy, nbytes) == 0
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert notes == ["warm-up (the next call with these buffers captures)",
                     "captured", "replayed", "replayed"]
    # Another output buffer: another key, warmed up again.
    outs2 = (ctypes.c_void_p * 1)(view(grt, dy2, refs[0].shape))
    assert grt.qopt_cuda_model_run_graph(model, ins, 1, outs2, 1, None) == 0
    assert grt.qopt_cuda_graph_note().decode().startswith("warm-up")
    assert grt.qopt_cuda_copy_to_host(got.ctypes.data, dy2, nbytes) == 0
    np.testing.assert_allclose(got, refs[-1], rtol=1e-5, atol=1e-6)
    # Outputs not given: a plain call, and why.
    none = (ctypes.c_void_p * 1)()
    assert grt.qopt_cuda_model_run_graph(model, ins, 1, none, 1, None) == 0
    assert "every output buffer must be given" in \
        grt.qopt_cuda_graph_note().decode()
    for t in (ins[0], outs[0], outs2[0], none[0]):
        grt.qopt_tensor_free(t)
    grt.qopt_model_free(model)  # drops the graphs
    for p in (dx, dy, dy2):
        grt.qopt_cuda_free(p)


def test_python_run_device_graph_needs_out(example):
    quant_opt = pytest.importorskip("quant_opt")
    m, xpath = example
    art = quant_opt.load(str(m / "gpu.so"))
    run_device = getattr(art, "run_device", None)
    if run_device is None or "graph" not in run_device.__code__.co_varnames:
        pytest.skip("the installed quant_opt predates run_device(graph=...)")
    x = np.load(xpath).astype(np.float32)
    # Refused before any device is touched: a graph needs the output buffers.
    with pytest.raises(quant_opt.InputError, match="graph=True needs out="):
        art.run_device({"input": x}, graph=True)
    assert art.graph_note == ""

"""quant-compile --profile / quant-run --profile (docs/Runtime/Profile.md)
and the static memory plan (docs/Runtime/Memory.md): artifacts stay
correct against onnxruntime, profiled or planned; the profile names the
regions that ran; runs from many threads on one planned artifact stay
bit-exact. No timing is asserted."""

import ctypes
import os
import subprocess
import threading

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import make_examples


def compile_model(build_dir, model, so, *flags):
    res = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                          str(model), "-o", str(so), *flags],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return str(so)


def quant_run(build_dir, so, inputs, out_dir, *flags):
    args = [os.path.join(build_dir, "bin", "quant-run"), str(so),
            "--output-dir", str(out_dir), *flags]
    os.makedirs(out_dir, exist_ok=True)
    for name, arr in inputs.items():
        path = os.path.join(out_dir, f"in_{name}.npy")
        np.save(path, arr)
        args += ["--input", f"{name}={path}"]
    return subprocess.run(args, capture_output=True, text=True)


def outputs(res, out_dir):
    assert res.returncode == 0, res.stderr
    outs = {}
    for line in res.stdout.splitlines():
        if line.startswith("output "):
            name = line.split()[1].rstrip(":")
            outs[name] = np.load(os.path.join(out_dir, name + ".npy"))
    return outs


def onnxruntime_run(model, inputs):
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, inputs)))


def small_detector(path, seed=0):
    """A static-shape DB-style model: conv + BN + ReLU (stride 2), a 1x1
    lateral conv, nearest upsampling, Concat, conv, Sigmoid: intermediates
    of several sizes whose lifetimes overlap in different ways."""
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def init(name, a):
        inits.append(numpy_helper.from_array(a.astype(np.float32), name))
        return name

    def conv(x, y, cin, cout, k, stride):
        w = init(y + ".w", rng.normal(0, np.sqrt(2 / (cin * k * k)),
                                      (cout, cin, k, k)))
        b = init(y + ".b", rng.normal(0, 0.1, cout))
        nodes.append(helper.make_node("Conv", [x, w, b], [y], name=y,
                                      kernel_shape=[k, k], pads=[k // 2] * 4,
                                      strides=[stride] * 2))
        return y

    def bn_relu(x, y, c):
        ps = [init(f"{y}.{p}", v) for p, v in (
            ("g", 1 + rng.normal(0, 0.2, c)), ("b", rng.normal(0, 0.1, c)),
            ("m", rng.normal(0, 0.3, c)), ("v", np.exp(rng.normal(0, 0.5, c))))]
        nodes.append(helper.make_node("BatchNormalization", [x] + ps,
                                      [y + "_bn"], name=y + "_bn"))
        nodes.append(helper.make_node("Relu", [y + "_bn"], [y], name=y))
        return y

    a = bn_relu(conv("image", "c1", 3, 8, 3, 2), "r1", 8)
    b = bn_relu(conv(a, "c2", 8, 16, 3, 2), "r2", 16)
    lat = conv(b, "lat", 16, 8, 1, 1)
    scales = init("scales", np.array([1, 1, 2, 2]))
    nodes.append(helper.make_node("Resize", [lat, "", scales], ["up"],
                                  name="up", mode="nearest"))
    nodes.append(helper.make_node("Concat", [a, "up"], ["cat"], name="cat",
                                  axis=1))
    head = conv("cat", "head", 16, 1, 3, 1)
    nodes.append(helper.make_node("Sigmoid", [head], ["prob"], name="prob"))
    graph = helper.make_graph(
        nodes, "detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                       [1, 3, 32, 32])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT,
                                       [1, 1, 16, 16])],
        initializer=inits)
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return str(path)


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    root = tmp_path_factory.mktemp("cnn")
    make_examples.write_model(str(root), "cnn", calib=1, eval_=1)
    x = np.random.default_rng(3).standard_normal((2, 3, 32, 32)).astype(
        np.float32)
    return os.path.join(root, "cnn", "model.onnx"), {"image": x}


def test_profile_names_the_regions_and_keeps_the_results(cnn, build_dir,
                                                         tmp_path):
    model, inputs = cnn
    plain = compile_model(build_dir, model, tmp_path / "plain.so")
    profiled = compile_model(build_dir, model, tmp_path / "prof.so",
                             "--profile")
    ref = onnxruntime_run(model, inputs)
    base = outputs(quant_run(build_dir, plain, inputs, tmp_path / "a"),
                   tmp_path / "a")
    res = quant_run(build_dir, profiled, inputs, tmp_path / "b", "--profile",
                    "--bench", "3", "--warmup", "1", "--profile-top", "100")
    got = outputs(res, tmp_path / "b")
    # The timers change nothing computed.
    np.testing.assert_array_equal(got["logits"], base["logits"])
    np.testing.assert_allclose(got["logits"], ref["logits"], rtol=1e-4,
                               atol=1e-5)
    out = res.stdout
    assert "profile: 3 runs" in out
    # The three convolutions run in the runtime's kernel (with its fused
    # bias/activation epilogue where there is one), once per run, and the fc
    # layer in the matmul kernel; pool and the rest are loops.
    kinds = {}
    for line in out.split("kind ", 1)[1].split("region ", 1)[0].splitlines():
        f = line.split()
        if len(f) >= 4 and f[-1].endswith("%"):
            kinds[" ".join(f[:-3])] = float(f[-3])
    assert sum(v for k, v in kinds.items()
               if k.startswith("kernel conv2d_nchw_f32")) == 3.0, kinds
    # (the fc layer's bias goes into the call: matmul_f32_fused)
    assert sum(v for k, v in kinds.items()
               if k.startswith("kernel matmul_f32")) == 1.0, kinds
    assert any(k.startswith("loops generic") for k in kinds)
    regions = out.split("ONNX nodes", 1)[1]
    for node in ("/conv1/Conv", "/conv2/Conv", "/conv3/Conv", "/fc/Gemm"):
        assert node in regions, node


def test_profile_of_an_artifact_without_timers_is_an_error(cnn, build_dir,
                                                           tmp_path):
    model, inputs = cnn
    plain = compile_model(build_dir, model, tmp_path / "plain.so")
    res = quant_run(build_dir, plain, inputs, tmp_path / "o", "--profile")
    assert res.returncode != 0
    assert "--profile: the artifact has no profiling code (compile it with " \
           "quant-compile --profile)" in res.stderr


def emitted_mlir(build_dir, model, tmp_path, *flags):
    out = tmp_path / ("m%d.mlir" % len(flags))
    compile_model(build_dir, model, out, "--emit=mlir", *flags)
    return out.read_text()


def test_planned_detector_matches_onnxruntime_and_the_malloc_build(
        build_dir, tmp_path):
    model = small_detector(tmp_path / "det.onnx")
    planned = compile_model(build_dir, model, tmp_path / "plan.so")
    malloced = compile_model(build_dir, model, tmp_path / "malloc.so",
                             "--no-memory-plan")
    # The plan is there (one arena call), and not with --no-memory-plan.
    assert "llvm.call @qopt_rt_arena" in emitted_mlir(build_dir, model,
                                                       tmp_path)
    assert "qopt_rt_arena" not in emitted_mlir(build_dir, model, tmp_path,
                                               "--no-memory-plan")
    x = np.random.default_rng(5).standard_normal((1, 3, 32, 32)).astype(
        np.float32)
    ref = onnxruntime_run(model, {"image": x})["prob"]
    a = outputs(quant_run(build_dir, planned, {"image": x}, tmp_path / "a",
                          "--bench", "5", "--warmup", "0"), tmp_path / "a")
    b = outputs(quant_run(build_dir, malloced, {"image": x}, tmp_path / "b"),
                tmp_path / "b")
    np.testing.assert_array_equal(a["prob"], b["prob"])
    np.testing.assert_allclose(a["prob"], ref, rtol=1e-4, atol=1e-6)


def test_bundled_models_with_dynamic_batch_stay_correct(cnn, build_dir,
                                                        tmp_path):
    """Dynamic shapes keep malloc, with frees moved to the last use; the
    results do not change and match onnxruntime at two batch sizes."""
    model, _ = cnn
    so = compile_model(build_dir, model, tmp_path / "cnn.so")
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal(
            (batch, 3, 32, 32)).astype(np.float32)
        got = outputs(quant_run(build_dir, so, {"image": x},
                                tmp_path / f"b{batch}"), tmp_path / f"b{batch}")
        ref = onnxruntime_run(model, {"image": x})
        np.testing.assert_allclose(got["logits"], ref["logits"], rtol=1e-4,
                                   atol=1e-5)


class Runtime:
    """The runtime's C API through ctypes (calls release the GIL)."""

    def __init__(self, build_dir):
        # Global: artifacts resolve the runtime functions they call from
        # the process.
        lib = ctypes.CDLL(os.path.join(build_dir, "lib", "libqopt_runtime.so"),
                          mode=ctypes.RTLD_GLOBAL)
        P = ctypes.c_void_p
        lib.qopt_last_error.restype = ctypes.c_char_p
        lib.qopt_model_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(P)]
        lib.qopt_tensor_create_copy.argtypes = [
            ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int64), P,
            ctypes.POINTER(P)]
        lib.qopt_model_run.argtypes = [P, ctypes.POINTER(P), ctypes.c_int,
                                       ctypes.POINTER(P), ctypes.c_int]
        lib.qopt_tensor_data.argtypes = [P]
        lib.qopt_tensor_data.restype = P
        lib.qopt_tensor_free.argtypes = [P]
        lib.qopt_model_free.argtypes = [P]
        lib.qopt_model_arena_bytes.argtypes = [P, ctypes.POINTER(ctypes.c_int)]
        lib.qopt_model_arena_bytes.restype = ctypes.c_uint64
        lib.qopt_set_num_threads.argtypes = [ctypes.c_int]
        self.lib = lib

    def load(self, path):
        m = ctypes.c_void_p()
        assert self.lib.qopt_model_load(str(path).encode(), ctypes.byref(m)) \
            == 0, self.lib.qopt_last_error()
        return m

    def tensor(self, x):
        t = ctypes.c_void_p()
        dims = (ctypes.c_int64 * x.ndim)(*x.shape)
        assert self.lib.qopt_tensor_create_copy(
            1, x.ndim, dims, x.ctypes.data_as(ctypes.c_void_p),
            ctypes.byref(t)) == 0
        return t

    def run(self, model, t, shape):
        ins = (ctypes.c_void_p * 1)(t)
        outs = (ctypes.c_void_p * 1)()
        assert self.lib.qopt_model_run(model, ins, 1, outs, 1) == 0, \
            self.lib.qopt_last_error()
        n = int(np.prod(shape))
        buf = (ctypes.c_float * n).from_address(
            self.lib.qopt_tensor_data(outs[0]))
        y = np.frombuffer(buf, np.float32, n).reshape(shape).copy()
        self.lib.qopt_tensor_free(outs[0])
        return y


def test_threads_share_one_planned_artifact(build_dir, tmp_path):
    """8 threads x 1000 calls on one artifact whose intermediates live in
    the arena: each run gets an arena of its own, every result is
    bit-identical to the single-threaded one for its input."""
    model = small_detector(tmp_path / "det.onnx")
    so = compile_model(build_dir, model, tmp_path / "det.so")
    rt = Runtime(build_dir)
    rt.lib.qopt_set_num_threads(1)
    m = rt.load(so)
    rng = np.random.default_rng(11)
    xs = [rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
          for _ in range(8)]
    ts = [rt.tensor(x) for x in xs]
    shape = (1, 1, 16, 16)
    want = [rt.run(m, t, shape) for t in ts]
    np.testing.assert_allclose(
        want[0], onnxruntime_run(model, {"image": xs[0]})["prob"], rtol=1e-4,
        atol=1e-6)
    errors = []
    barrier = threading.Barrier(len(xs))

    def work(i):
        try:
            barrier.wait()
            for k in range(1000):
                y = rt.run(m, ts[i], shape)
                if not np.array_equal(y, want[i]):
                    raise AssertionError(f"thread {i} call {k} differs")
        except Exception as e:  # reported below, on the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    count = ctypes.c_int()
    assert rt.lib.qopt_model_arena_bytes(m, ctypes.byref(count)) > 0
    assert 1 <= count.value <= 8
    for t in ts:
        rt.lib.qopt_tensor_free(t)
    rt.lib.qopt_model_free(m)

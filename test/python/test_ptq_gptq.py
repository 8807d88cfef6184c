"""GPTQ weight rounding and bias correction wired into the compiler
(quant-compile --weight-rounding=gptq, --bias-correction; qopt-ptq's
weight-rounding / bias-correction): the codes qopt-quantize stores for a
layer against the numpy GPTQ of test_gptq_numpy.py, fed with the second
moment of that layer's calibration inputs computed here in numpy (linear
rows; a padded, strided convolution's im2col patches); the bias
correction against (W - Wq)·E[x]; the output SQNR against onnxruntime's
float model with and without GPTQ."""

import os
import re
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from test_gptq_numpy import gptq_reference

RNG = np.random.default_rng(25)


def write_samples(directory, name, arrays):
    for i, a in enumerate(arrays):
        d = os.path.join(directory, f"sample_{i:03d}")
        os.makedirs(d, exist_ok=True)
        np.save(os.path.join(d, name + ".npy"), a.astype(np.float32))


def save(model, path):
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def gemm_model(path, w, b):
    n, k = w.shape
    g = helper.make_graph(
        [helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["y"],
                          transB=1, name="/fc/Gemm")],
        "gemm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [16, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [16, n])],
        [numpy_helper.from_array(w, "fc.weight"),
         numpy_helper.from_array(b, "fc.bias")])
    return save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
                path)


def conv_model(path, w):
    f, c, kh, kw = w.shape
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "conv.weight"], ["y"], name="conv1",
                          pads=[1, 1, 1, 1], strides=[2, 2])],
        "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                               [1, c, 9, 9])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, f, 5, 5])],
        [numpy_helper.from_array(w, "conv.weight")])
    return save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
                path)


def resources(text):
    """name -> bytes of the dialect_resources blobs (after the alignment)."""
    return {m.group(1): bytes.fromhex(m.group(2))[4:]
            for m in re.finditer(r'^\s*([\w./]+): "0x([0-9A-F]+)"', text, re.M)}


def ptq(build_dir, model, options):
    imported = subprocess.run(
        [os.path.join(build_dir, "bin", "quant-translate"), "--import-onnx",
         model], check=True, capture_output=True, text=True).stdout
    r = subprocess.run([os.path.join(build_dir, "bin", "quant-opt"),
                        f"--qopt-ptq={options}"], input=imported,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def heavy_rows(rows, k):
    x = RNG.standard_t(3, size=(rows, k))
    x[:, :2] *= 6.0                    # outlier input channels
    x[:, 5] = 0.8 * x[:, 4] + 0.2 * x[:, 5]  # correlated inputs
    return x + 0.3


def moments(x):
    x = x.astype(np.float32).astype(np.float64)
    return x.T @ x / len(x), x.mean(0)


@pytest.mark.parametrize("scheme", ["w8", "w4"])
def test_linear_codes_equal_numpy_gptq(build_dir, tmp_path, scheme):
    n, k = 24, 64
    w = (RNG.normal(size=(n, k)) * np.exp(RNG.normal(size=(n, 1)))).astype(
        np.float32)
    b = RNG.normal(size=n).astype(np.float32)
    model = gemm_model(str(tmp_path / "gemm.onnx"), w, b)
    xs = [heavy_rows(16, k) for _ in range(6)]
    write_samples(str(tmp_path / "calib"), "x", xs)
    opts = (f"scheme={scheme} weight-rounding=gptq calibration-data="
            f"{tmp_path / 'calib'}")
    if scheme == "w4":
        opts += " group-size=32 int4-scale=absmax"
    out = ptq(build_dir, model, opts)
    blobs = resources(out)
    h, _ = moments(np.concatenate(xs))
    if scheme == "w8":
        codes, scales = gptq_reference(w, h, 127)
        got = np.frombuffer(blobs["fc.weight.int8"], np.int8).reshape(n, k)
        got_scales = np.frombuffer(blobs["fc.weight.scale"], np.float32)
        np.testing.assert_allclose(got_scales, scales[:, 0], rtol=1e-6)
    else:
        # Two scale rules, the lower output error kept: GPTQ's own (max |w|
        # / 7 as the group is reached) and static absmax of the original
        # weights; codes in [-8, 7].
        cands = [gptq_reference(w, h, 7, group=32, qmin=-8),
                 gptq_reference(w, h, 7, group=32, qmin=-8,
                                static_scales=np.abs(w.reshape(n, 2, 32))
                                .max(2) / 7)]

        def err(c):
            e = w - c[0] * np.repeat(c[1], 32, axis=1)
            return np.trace(e @ h @ e.T)
        codes, scales = min(cands, key=err)
        packed = np.frombuffer(blobs["fc.weight.int4"], np.uint8).reshape(
            n, k // 2)
        lo = (packed & 15).astype(np.int8)
        hi = (packed >> 4).astype(np.int8)
        got = np.stack([(lo ^ 8) - 8, (hi ^ 8) - 8], axis=2).reshape(n, k)
        got_scales = np.frombuffer(blobs["fc.weight.scale"],
                                   np.float32).reshape(n, 2)
        np.testing.assert_allclose(got_scales, scales, rtol=1e-6)
    # The runtime sums XᵀX in another order than numpy: a code may sit on
    # a rounding boundary and differ by one step; in practice none does.
    diff = got.astype(np.int64) - codes
    assert np.abs(diff).max() <= 1
    assert np.mean(diff == 0) >= 0.999
    # ... and the rounding actually differs from round to nearest.
    nearest = np.clip(np.rint(w / (np.abs(w).max(1, keepdims=True) / 127)),
                      -127, 127)
    if scheme == "w8":
        assert np.sum(got != nearest) > 0


def test_conv_im2col_codes_equal_numpy_gptq(build_dir, tmp_path):
    f, c = 8, 4
    w = RNG.normal(size=(f, c, 3, 3)).astype(np.float32)
    model = conv_model(str(tmp_path / "conv.onnx"), w)
    xs = [np.maximum(RNG.normal(size=(1, c, 9, 9)) + 0.5, 0) for _ in range(6)]
    write_samples(str(tmp_path / "calib"), "x", xs)
    out = ptq(build_dir, model,
              f"scheme=w8 weight-rounding=gptq bias-correction=true "
              f"calibration-data={tmp_path / 'calib'}")
    blobs = resources(out)
    # im2col of the padded input, stride 2: rows (oy, ox), columns (c, i, j).
    rows = []
    for x in xs:
        p = np.pad(x.astype(np.float32)[0], ((0, 0), (1, 1), (1, 1)))
        for oy in range(5):
            for ox in range(5):
                rows.append(p[:, 2 * oy:2 * oy + 3, 2 * ox:2 * ox + 3].ravel())
    h, mean = moments(np.array(rows))
    wf = w.reshape(f, -1)
    codes, scales = gptq_reference(wf, h, 127)
    # (The convolution's blobs are named after its layer name.)
    int8 = [v for key, v in blobs.items() if key.endswith(".int8")]
    corr = [v for key, v in blobs.items() if key.endswith(".bias_correction")]
    assert len(int8) == 1 and len(corr) == 1, list(blobs)
    got = np.frombuffer(int8[0], np.int8).reshape(f, -1)
    diff = got.astype(np.int64) - codes
    assert np.abs(diff).max() <= 1 and np.mean(diff == 0) >= 0.999
    # Bias correction: (W - Wq)·E[patch] per filter.
    wq = got * scales
    want = (wf.astype(np.float64) - wq) @ mean
    np.testing.assert_allclose(
        np.frombuffer(corr[0], np.float32), want,
        rtol=1e-4, atol=1e-7)


def test_linear_bias_correction_equals_numpy(build_dir, tmp_path):
    n, k = 16, 32
    w = RNG.normal(size=(n, k)).astype(np.float32)
    b = RNG.normal(size=n).astype(np.float32)
    model = gemm_model(str(tmp_path / "gemm.onnx"), w, b)
    xs = [heavy_rows(16, k) for _ in range(4)]
    write_samples(str(tmp_path / "calib"), "x", xs)
    out = ptq(build_dir, model, "scheme=w8 bias-correction=true "
              f"calibration-data={tmp_path / 'calib'}")
    blobs = resources(out)
    codes = np.frombuffer(blobs["fc.weight.int8"], np.int8).reshape(n, k)
    scales = np.frombuffer(blobs["fc.weight.scale"], np.float32)
    _, mean = moments(np.concatenate(xs))
    want = b + ((w.astype(np.float64) - codes * scales[:, None].astype(
        np.float64)) @ mean).astype(np.float32)
    np.testing.assert_allclose(
        np.frombuffer(blobs["fc.weight.bias_corrected"], np.float32), want,
        rtol=1e-5, atol=1e-7)
    assert "rounding_error<method = nearest" in out
    assert "bias_corrected = true" in out


def output_sqnr(build_dir, so, model, evals, tmp):
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    out = sess.get_outputs()[0].name
    num = den = 0.0
    for i, x in enumerate(evals):
        p = str(tmp / f"in{i}.npy")
        np.save(p, x.astype(np.float32))
        subprocess.run([os.path.join(build_dir, "bin", "quant-run"), so,
                        "--input", f"{name}={p}", "--output-dir", str(tmp)],
                       check=True, capture_output=True)
        got = np.load(str(tmp / (out + ".npy"))).astype(np.float64)
        ref = sess.run(None, {name: x.astype(np.float32)})[0].astype(np.float64)
        num += np.sum(ref ** 2)
        den += np.sum((got - ref) ** 2)
    return 10 * np.log10(num / den)


def mlp_model(rng, path, k, hdim, n):
    """Gemm(k -> hdim) -> Relu -> Gemm(hdim -> n), batch 16, saved to path."""
    w1 = rng.normal(size=(hdim, k)).astype(np.float32) / 8
    w2 = rng.normal(size=(n, hdim)).astype(np.float32) / 10
    nodes = [helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h"],
                              transB=1, name="/fc1/Gemm"),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "fc2.weight", "fc2.bias"], ["y"],
                              transB=1, name="/fc2/Gemm")]
    g = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [16, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [16, n])],
        [numpy_helper.from_array(w1, "fc1.weight"),
         numpy_helper.from_array(np.zeros(hdim, np.float32), "fc1.bias"),
         numpy_helper.from_array(w2, "fc2.weight"),
         numpy_helper.from_array(np.zeros(n, np.float32), "fc2.bias")])
    return save(helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_gptq_improves_output_sqnr_end_to_end(build_dir, tmp_path):
    """A two-layer MLP on heavy-tailed, correlated inputs, w8 and w4:
    quant-compile's artifact against onnxruntime's float model on held-back
    samples; GPTQ's error is lower than round-to-nearest's."""
    k, hdim, n = 64, 96, 16
    model = mlp_model(RNG, str(tmp_path / "mlp.onnx"), k, hdim, n)
    write_samples(str(tmp_path / "calib"), "x",
                  [heavy_rows(16, k) for _ in range(16)])
    evals = [heavy_rows(16, k) for _ in range(4)]
    sqnr = {}
    for scheme in ("w8", "w4"):
        for rounding in ("nearest", "gptq"):
            so = str(tmp_path / f"{scheme}_{rounding}.so")
            r = subprocess.run(
                [os.path.join(build_dir, "bin", "quant-compile"), model,
                 f"--quantize={scheme}", "--group-size=32",
                 f"--weight-rounding={rounding}",
                 f"--calibration-data={tmp_path / 'calib'}", "-o", so],
                capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            sqnr[scheme, rounding] = output_sqnr(build_dir, so, model, evals,
                                                 tmp_path)
    assert sqnr["w8", "gptq"] > sqnr["w8", "nearest"], sqnr
    assert sqnr["w4", "gptq"] > sqnr["w4", "nearest"], sqnr


@pytest.mark.parametrize("flags, message", [
    (["--quantize=w8", "--weight-rounding=gptq"],
     "--weight-rounding=gptq needs --calibration-data=DIR"),
    (["--quantize=w8", "--bias-correction"],
     "--bias-correction needs --calibration-data=DIR"),
    (["--quantize=nf4", "--weight-rounding=gptq", "--calibration-data=."],
     "--weight-rounding=gptq is for --quantize=w8a8, w8a8-dynamic, w8 and "
     "symmetric w4"),
    (["--quantize=w8", "--weight-rounding=best"],
     "for the --weight-rounding option: 'best' is not one of: nearest, gptq, auto"),
])
def test_quant_compile_errors(build_dir, tmp_path, flags, message):
    model = gemm_model(str(tmp_path / "gemm.onnx"),
                       np.ones((4, 8), np.float32), np.zeros(4, np.float32))
    r = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                        model, *flags, "-o", str(tmp_path / "m.so")],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr

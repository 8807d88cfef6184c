"""Ternary BitLinear (BitNet b1.58) against independent references:

- qopt-ternarize's packed weights and gamma, bit-exact against a numpy
  implementation of the formula (REFERENCE.md, the authors' code form:
  gamma = max(mean|W|, 1e-5), t = clip(round_half_even(W / gamma), -1, 1),
  code t + 1 at bits 2*(k%4) of byte k/4);
- quant-compile --quantize=ternary (absmean) on a float model, its outputs
  against a numpy simulation of BitLinear (per-token int8 absmax, exact
  integer sums, y = acc * gamma / s + bias);
- a model whose float weights already are ternary, compiled with
  --ternary-mode=lossless: matches onnxruntime on the float model to 1e-5
  (float activations: the lossless mode keeps the model's semantics and adds
  no activation quantization), non-ternary layers stay float and are listed;
- the report's ternary statistics and the driver's errors."""

import json
import os
import re
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper


def ternarize(w):
    """The absmean formula in numpy, f32 as BitNet's code computes it (the
    mean summed in float64 and rounded to f32, as documented)."""
    gamma = np.float32(max(np.float32(np.abs(w.astype(np.float64)).mean()),
                           np.float32(1e-5)))
    t = np.clip(np.round(w / gamma), -1, 1).astype(np.int8)
    return t, gamma


def pack(t):
    n, k = t.shape
    codes = (t.astype(np.int32) + 1).reshape(n, k // 4, 4)
    return (codes[..., 0] | codes[..., 1] << 2 | codes[..., 2] << 4 |
            codes[..., 3] << 6).astype(np.uint8)


def bitlinear(x, t, gamma, bias):
    """BitLinear with per-token int8 activations, in f32 like the kernels."""
    absmax = np.abs(x).max(axis=1).astype(np.float32)
    s = (np.float32(127) / np.maximum(absmax, np.float32(1e-5))).astype(
        np.float32)
    q = np.clip(np.round(x * s[:, None]), -128, 127).astype(np.int64)
    acc = q @ t.astype(np.int64).T
    y = (acc.astype(np.float32) * gamma) / s[:, None]
    return (y + bias).astype(np.float32)


def gemm_model(path, layers, k_in, relu=True):
    """x [3, k_in] -> Gemm(transB=1) [-> Relu] ... ; `layers` is a list of
    (name, W [n, k], b [n])."""
    nodes, inits = [], []
    cur = "x"
    for i, (name, w, b) in enumerate(layers):
        inits += [numpy_helper.from_array(w, f"{name}.weight"),
                  numpy_helper.from_array(b, f"{name}.bias")]
        out = f"h{i}"
        nodes.append(helper.make_node(
            "Gemm", [cur, f"{name}.weight", f"{name}.bias"], [out],
            name=f"/{name}/Gemm", transB=1))
        cur = out
        if relu and i + 1 < len(layers):
            nodes.append(helper.make_node("Relu", [cur], [f"r{i}"],
                                          name=f"/relu{i}/Relu"))
            cur = f"r{i}"
    nodes.append(helper.make_node("Identity", [cur], ["y"], name="/out"))
    n_out = layers[-1][1].shape[0]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, k_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, n_out])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def compile_model(build_dir, model, out, *extra):
    return subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                           str(model), "-o", str(out), *extra],
                          capture_output=True, text=True)


def run(build_dir, so, x, tmp_path):
    xin = tmp_path / "x.npy"
    np.save(xin, x)
    subprocess.run([os.path.join(build_dir, "bin", "quant-run"), str(so),
                    "--input", f"x={xin}", "--output-dir", str(tmp_path)],
                   check=True, capture_output=True)
    return np.load(tmp_path / "y.npy")


def hex_f32(a):
    return "0x" + a.astype("<f4").tobytes().hex().upper()


@pytest.mark.parametrize("shape,seed", [((8, 64), 0), ((33, 128), 1),
                                        ((4, 1028), 2)])
def test_packed_weights_bit_exact(quant_opt, tmp_path, shape, seed):
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal(shape) * 0.05).astype(np.float32)
    # Exact ties W / gamma = +-0.5 and values far past the clamp.
    w[0, :4] = [0.0, 10.0, -10.0, 0.0]
    n, k = shape
    src = tmp_path / "m.mlir"
    src.write_text(f"""
func.func @f(%x: tensor<2x{k}xf32>) -> tensor<2x{n}xf32> {{
  %w = arith.constant dense<"{hex_f32(w)}"> : tensor<{n}x{k}xf32>
  %y = qopt.linear %x, %w {{weight_name = "fc"}} : (tensor<2x{k}xf32>, tensor<{n}x{k}xf32>) -> tensor<2x{n}xf32>
  return %y : tensor<2x{n}xf32>
}}""")
    r = subprocess.run([quant_opt, str(src), "--qopt-ternarize"],
                       capture_output=True, text=True, check=True)
    blob = re.search(r'fc\.ternary: "0x([0-9A-F]+)"', r.stdout).group(1)
    got = np.frombuffer(bytes.fromhex(blob)[4:], dtype=np.uint8)
    t, gamma = ternarize(w)
    np.testing.assert_array_equal(got.reshape(n, k // 4), pack(t))
    scale = float(re.search(r"scale ([-0-9.e+]+)", r.stdout).group(1))
    assert scale == float(gamma)
    # Not a formula that passes whatever it gets: some weights are zero,
    # some are clamped, none are code 3.
    assert 0 < (t == 0).mean() < 1 and (got & 3 != 3).all()


def test_absmean_model_matches_numpy_simulation(build_dir, tmp_path):
    rng = np.random.default_rng(3)
    layers = [("fc1", (rng.standard_normal((48, 64)) * 0.1).astype(np.float32),
               (rng.standard_normal(48) * 0.1).astype(np.float32)),
              ("fc2", (rng.standard_normal((16, 48)) * 0.2).astype(np.float32),
               (rng.standard_normal(16) * 0.1).astype(np.float32))]
    model = tmp_path / "m.onnx"
    gemm_model(str(model), layers, 64)
    so = tmp_path / "m.so"
    r = compile_model(build_dir, model, so, "--quantize=ternary")
    assert r.returncode == 0, r.stderr
    x = rng.standard_normal((3, 64)).astype(np.float32)
    got = run(build_dir, so, x, tmp_path)
    h = x
    for i, (_, w, b) in enumerate(layers):
        t, gamma = ternarize(w)
        h = bitlinear(h, t, gamma, b)
        if i + 1 < len(layers):
            h = np.maximum(h, 0)
    np.testing.assert_allclose(got, h, rtol=1e-5, atol=1e-6)
    # The simulation is not the float model: ternarization changes it.
    ref = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]
                               ).run(None, {"x": x})[0]
    assert np.abs(ref - got).max() > 1e-2


def ternary_layers(rng):
    def tern(n, k, g, p0):
        t = rng.choice([-1, 0, 1], size=(n, k), p=[(1 - p0) / 2, p0,
                                                   (1 - p0) / 2])
        return (t * np.float32(g)).astype(np.float32)
    return [("blk.0.up", tern(64, 32, 0.0371, 0.4),
             (rng.standard_normal(64) * 0.1).astype(np.float32)),
            ("blk.0.mid", (rng.standard_normal((32, 64)) * 0.1).astype(
                np.float32), (rng.standard_normal(32) * 0.1).astype(np.float32)),
            ("blk.0.down", tern(8, 32, 0.2, 0.3),
             (rng.standard_normal(8) * 0.1).astype(np.float32))]


def test_lossless_matches_onnxruntime(build_dir, tmp_path):
    rng = np.random.default_rng(4)
    layers = ternary_layers(rng)
    model = tmp_path / "m.onnx"
    gemm_model(str(model), layers, 32)
    so = tmp_path / "m.so"
    r = compile_model(build_dir, model, so, "--quantize=ternary",
                      "--ternary-mode=lossless")
    assert r.returncode == 0, r.stderr
    # The non-ternary layer is listed and left float; the others are not.
    assert ("qopt-ternarize: layer 'blk.0.mid.weight' stays float: its "
            "weight takes more than three values") in r.stderr
    assert "blk.0.up" not in r.stderr and "blk.0.down" not in r.stderr
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    for _ in range(3):
        x = (rng.standard_normal((3, 32)) * 3).astype(np.float32)
        got = run(build_dir, so, x, tmp_path)
        ref = sess.run(None, {"x": x})[0]
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # absmean on the same model quantizes the activations: not lossless.
    r = compile_model(build_dir, model, tmp_path / "a.so", "--quantize=ternary")
    assert r.returncode == 0, r.stderr
    got = run(build_dir, tmp_path / "a.so", x, tmp_path)
    assert np.abs(got - ref).max() > 1e-4


def test_report_ternary_statistics(build_dir, tmp_path):
    rng = np.random.default_rng(5)
    layers = ternary_layers(rng)
    model = tmp_path / "m.onnx"
    gemm_model(str(model), layers, 32)
    ev = tmp_path / "eval" / "sample_000"
    ev.mkdir(parents=True)
    np.save(ev / "x.npy", rng.standard_normal((3, 32)).astype(np.float32))
    out = tmp_path / "r.json"
    r = compile_model(build_dir, model, tmp_path / "m.so", "--quantize=ternary",
                      f"--eval-data={tmp_path / 'eval'}", f"--report={out}",
                      "--report-latency-runs=0")
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text())
    assert rep["scheme"] == "ternary"
    by = {l["name"]: l for l in rep["layers"]}
    up, mid = by["blk.0.up.weight"], by["blk.0.mid.weight"]
    w_up, w_mid = layers[0][1], layers[1][1]
    assert up["weight_bytes_quantized"] == w_up.size // 4
    assert up["ternary"]["gamma"] == pytest.approx(
        float(ternarize(w_up)[1]), rel=1e-7)
    assert up["ternary"]["zero_share"] == pytest.approx(
        (ternarize(w_up)[0] == 0).mean())
    t, g = ternarize(w_mid)
    sqnr = 10 * np.log10((w_mid.astype(np.float64) ** 2).sum() /
                         ((w_mid - t * g).astype(np.float64) ** 2).sum())
    assert mid["ternary"]["weight_sqnr_db"] == pytest.approx(sqnr, abs=1e-3)
    assert mid["quantized_as"] == "ternary, activations int8 per token"


def test_ternary_mode_needs_ternary(build_dir, tmp_path):
    rng = np.random.default_rng(6)
    model = tmp_path / "m.onnx"
    gemm_model(str(model), ternary_layers(rng), 32)
    r = compile_model(build_dir, model, tmp_path / "x.so", "--quantize=w8",
                      "--ternary-mode=lossless")
    assert r.returncode != 0
    assert "--ternary-mode is for --quantize=ternary" in r.stderr


def exported_bitlinear_model(path, layers, x_shape, act_quant=True):
    """BitNet b1.58's reference BitLinear as the legacy torch.onnx exporter
    writes it (the STE's .detach() vanishes): w + (weight_quant(w) - w)
    and x + (activation_quant(x) - x) around Gemm (2-D input) or
    MatMul(x, Transpose(w)) + Add (3-D input); Relu between layers."""
    consts = {"eps": 1e-5, "one": 1.0, "m1": -1.0, "p1": 1.0, "c127": 127.0,
              "m128": -128.0}
    inits = [numpy_helper.from_array(np.array(v, np.float32), k)
             for k, v in consts.items()]
    nodes = []
    cur = "x"
    n = helper.make_node
    for i, (name, w, b) in enumerate(layers):
        p = f"/{name}/"
        inits += [numpy_helper.from_array(w, f"{name}.weight"),
                  numpy_helper.from_array(b, f"{name}.bias")]
        wt, x = f"{name}.weight", cur
        nodes += [
            n("Abs", [wt], [p + "wa"], name=p + "Abs"),
            n("ReduceMean", [p + "wa"], [p + "wm"], name=p + "ReduceMean",
              keepdims=0),
            n("Clip", [p + "wm", "eps", ""], [p + "wc"], name=p + "Clip"),
            n("Div", ["one", p + "wc"], [p + "ws"], name=p + "Div"),
            n("Mul", [wt, p + "ws"], [p + "wx"], name=p + "Mul"),
            n("Round", [p + "wx"], [p + "wr"], name=p + "Round"),
            n("Clip", [p + "wr", "m1", "p1"], [p + "wq"], name=p + "Clip_1"),
            n("Div", [p + "wq", p + "ws"], [p + "wd"], name=p + "Div_1"),
            n("Sub", [p + "wd", wt], [p + "wdiff"], name=p + "Sub"),
            n("Add", [wt, p + "wdiff"], [p + "wfin"], name=p + "Add")]
        if act_quant:
            nodes += [
                n("Abs", [x], [p + "xa"], name=p + "Abs_1"),
                n("ReduceMax", [p + "xa"], [p + "xm"], name=p + "ReduceMax",
                  axes=[-1], keepdims=1),
                n("Clip", [p + "xm", "eps", ""], [p + "xc"], name=p + "Clip_2"),
                n("Div", ["c127", p + "xc"], [p + "xs"], name=p + "Div_2"),
                n("Mul", [x, p + "xs"], [p + "xx"], name=p + "Mul_1"),
                n("Round", [p + "xx"], [p + "xr"], name=p + "Round_1"),
                n("Clip", [p + "xr", "m128", "c127"], [p + "xq"],
                  name=p + "Clip_3"),
                n("Div", [p + "xq", p + "xs"], [p + "xd"], name=p + "Div_3"),
                n("Sub", [p + "xd", x], [p + "xdiff"], name=p + "Sub_1"),
                n("Add", [x, p + "xdiff"], [p + "xfin"], name=p + "Add_1")]
            x = p + "xfin"
        out = f"h{i}"
        if len(x_shape) == 2:
            nodes.append(n("Gemm", [x, p + "wfin", f"{name}.bias"], [out],
                           name=p + "Gemm", transB=1))
        else:
            nodes += [n("Transpose", [p + "wfin"], [p + "wT"],
                        name=p + "Transpose", perm=[1, 0]),
                      n("MatMul", [x, p + "wT"], [p + "mm"], name=p + "MatMul"),
                      n("Add", [p + "mm", f"{name}.bias"], [out],
                        name=p + "Add_2")]
        cur = out
        if i + 1 < len(layers):
            nodes.append(n("Relu", [cur], [f"r{i}"], name=f"/relu{i}/Relu"))
            cur = f"r{i}"
    nodes.append(n("Identity", [cur], ["y"], name="/out"))
    out_shape = list(x_shape[:-1]) + [layers[-1][1].shape[0]]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


@pytest.mark.parametrize("x_shape,act_quant", [((3, 96), True),
                                               ((3, 96), False),
                                               ((2, 3, 96), True)])
def test_exported_bitlinear_lossless(build_dir, tmp_path, x_shape, act_quant):
    """The exporter's BitLinear subgraphs (weights of 96x160 and 64x96:
    larger than what the importer evaluates, so they stay subgraphs) become
    qopt.bitlinear in lossless mode and the model matches onnxruntime."""
    rng = np.random.default_rng(7)
    layers = [("l0", (rng.standard_normal((160, 96)) * 0.1).astype(np.float32),
               (rng.standard_normal(160) * 0.1).astype(np.float32)),
              ("l1", (rng.standard_normal((64, 160)) * 0.1).astype(np.float32),
               (rng.standard_normal(64) * 0.1).astype(np.float32))]
    model = tmp_path / "m.onnx"
    exported_bitlinear_model(str(model), layers, x_shape, act_quant)
    mlir = tmp_path / "m.mlir"
    r = compile_model(build_dir, model, mlir, "--quantize=ternary",
                      "--ternary-mode=lossless", "--emit=mlir")
    assert r.returncode == 0, r.stderr
    # Both layers run on the ternary kernels, nothing rounds in float.
    kernel = "qopt_kernel_matmul_s8t2" if act_quant else \
        "qopt_kernel_matmul_f32t2"
    text = mlir.read_text()
    assert text.count(f"call @{kernel}(") == 2
    so = tmp_path / "m.so"
    r = compile_model(build_dir, model, so, "--quantize=ternary",
                      "--ternary-mode=lossless")
    assert r.returncode == 0, r.stderr
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    for _ in range(3):
        x = (rng.standard_normal(x_shape) * 2).astype(np.float32)
        got = run(build_dir, so, x, tmp_path)
        ref = sess.run(None, {"x": x})[0]
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)

"""w4 artifacts compiled with --w4-activations=int8 (docs/Runtime/W4Int8.md):
the layers' qopt.qlinear activation is dynamic_block, so the kernel
quantizes activations to int8 per weight block and multiplies integers,
scales in float. Checked against a numpy reference of that arithmetic (integer sums
in int64) and against onnxruntime's MatMulNBits with accuracy_level=4
(its int8-activation kernel) on onnxruntime's own int4 weights."""

import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from test_w4_onnxruntime import (matmulnbits_asym_model, matmulnbits_model,
                                 ort_reference, run_ort, sqnr)

ort = pytest.importorskip("onnxruntime")
f32 = np.float32


def model(w, rows, extra=()):
    k, n = w.shape
    return helper.make_model(
        helper.make_graph(
            [helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")], "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, k])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, n])],
            [numpy_helper.from_array(w, "w")]),
        opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def compile_run(build_dir, tmp_path, m, x, flags, int8, env_extra=None):
    onnx.save(m, tmp_path / "m.onnx")
    bindir = os.path.join(build_dir, "bin")
    flags = [*flags, "--w4-activations=int8"] if int8 else flags
    subprocess.run([os.path.join(bindir, "quant-compile"),
                    str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.so"),
                    *flags], check=True)
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ)
    env.update(env_extra or {})
    subprocess.run([os.path.join(bindir, "quant-run"), str(tmp_path / "m.so"),
                    "--input", f"x={tmp_path / 'x.npy'}", "--output-dir",
                    str(tmp_path)], check=True, capture_output=True, env=env)
    return np.load(tmp_path / "y.npy")


def quantize_rows(x, block):
    """The documented rule: per row and block of k, s = max|x| / 127
    (float32), q = round-half-even(x / s) in float32."""
    rows, k = x.shape
    q = np.zeros_like(x, dtype=np.int64)
    s = np.zeros((rows, -(-k // block)), f32)
    for g in range(s.shape[1]):
        blk = x[:, g * block:(g + 1) * block]
        amax = np.abs(blk).max(axis=1).astype(f32)
        sg = (amax / f32(127)).astype(f32)
        with np.errstate(divide="ignore", invalid="ignore"):
            qg = np.rint((blk / sg[:, None]).astype(f32))
        qg[sg == 0] = 0
        q[:, g * block:(g + 1) * block] = np.clip(qg, -127, 127)
        s[:, g] = sg
    return q, s


def int_reference(x, codes, zeros, scales, block):
    """y = Σ_g (s_w · s_x) · Σ_{k∈g} q · (u - z): integer sums in int64,
    codes u [N, K] (0..15), zeros/scales [N, blocks]."""
    k = x.shape[1]
    q, sx = quantize_rows(x, block)
    w = codes[:, :k].astype(np.int64)
    y = np.zeros((x.shape[0], codes.shape[0]))
    for g in range(scales.shape[1]):
        sl = slice(g * block, min(k, (g + 1) * block))
        ints = q[:, sl] @ (w[:, sl] - zeros[:, g:g + 1].astype(np.int64)).T
        y += ints * (sx[:, g:g + 1].astype(np.float64) *
                     scales[:, g].astype(np.float64)[None, :])
    return y


@pytest.mark.parametrize("rows,k,block", [(1, 256, 32), (3, 688, 32),
                                          (8, 688, 128), (32, 300, 64)])
def test_int4_matches_integer_reference_and_acc4(build_dir, tmp_path, rows, k,
                                                 block):
    n = 48
    rng = np.random.default_rng(rows * 1000 + k)
    w = (rng.standard_normal((k, n)) * 0.05).astype(f32)
    x = rng.standard_normal((rows, k)).astype(f32)
    flags = ["--quantize=w4", f"--group-size={block}",
             "--int4-scale=signed-extreme"]
    got = compile_run(build_dir, tmp_path, model(w, rows), x, flags, True)
    f32_path = compile_run(build_dir, tmp_path, model(w, rows), x, flags,
                           False)
    # signed-extreme stores onnxruntime's codes (u = q_ort, z = 8).
    codes, scales = ort_reference(w, block)
    ref = int_reference(x, codes, np.full(scales.shape, 8), scales, block)
    np.testing.assert_allclose(got, ref, rtol=1e-5,
                               atol=1e-5 * np.abs(ref).max())
    assert not np.array_equal(got, f32_path)  # the option changed the path
    acc4 = run_ort(with_level(matmulnbits_model(w, block), 4, rows), x)
    acc0 = run_ort(with_level(matmulnbits_model(w, block), 0, rows), x)
    exact = x.astype(np.float64) @ w.astype(np.float64)
    # Same accuracy as onnxruntime's int8-activation kernel (its rounding
    # ties differ), and within 0.5 dB of the f32 path.
    assert abs(sqnr(exact, got) - sqnr(exact, acc4)) < 0.2
    assert sqnr(exact, got) > sqnr(exact, acc0) - 0.5
    assert sqnr(acc4, got) > 35


def with_level(m, level, rows):
    out = onnx.ModelProto()
    out.CopyFrom(m)
    for node in out.graph.node:
        node.attribute.append(helper.make_attribute("accuracy_level", level))
    for v in list(out.graph.input) + list(out.graph.output):
        v.type.tensor_type.shape.dim[0].dim_value = rows
    return out


@pytest.mark.parametrize("block", [32, 128])
def test_uint4_matches_integer_reference(build_dir, tmp_path, block):
    k, n, rows = 688, 40, 4
    rng = np.random.default_rng(block + 7)
    w = (rng.standard_normal((k, n)) * 0.05 + 0.02).astype(f32)
    x = rng.standard_normal((rows, k)).astype(f32)
    got = compile_run(build_dir, tmp_path, model(w, rows), x,
                      ["--quantize=w4", f"--group-size={block}",
                       "--weight-asymmetric", "--int4-scale=minmax"], True)
    f32_path = compile_run(build_dir, tmp_path, model(w, rows), x,
                           ["--quantize=w4", f"--group-size={block}",
                            "--weight-asymmetric", "--int4-scale=minmax"],
                           False)
    exact = x.astype(np.float64) @ w.astype(np.float64)
    acc4 = run_ort(with_level(matmulnbits_asym_model(w, block), 4, rows), x)
    assert abs(sqnr(exact, got) - sqnr(exact, acc4)) < 0.3
    assert abs(sqnr(exact, got) - sqnr(exact, f32_path)) < 0.5
    assert sqnr(f32_path, got) > 30


def test_non_finite_activation_keeps_f32_semantics(build_dir, tmp_path):
    k, n, rows = 64, 16, 2
    w = np.random.default_rng(3).standard_normal((k, n)).astype(f32)
    x = np.ones((rows, k), f32)
    x[0, 5] = np.nan
    got = compile_run(build_dir, tmp_path, model(w, rows), x,
                      ["--quantize=w4", "--group-size=32"], True)
    assert np.isnan(got[0]).all()
    assert np.isfinite(got[1]).all()


def test_choice_is_the_artifacts_not_the_environments(build_dir, tmp_path):
    """The arithmetic is fixed at compile time: the retired
    QOPT_W4_ACTIVATIONS variable changes nothing, and the report names the
    layer's activation handling."""
    k, n, rows = 256, 32, 2
    rng = np.random.default_rng(11)
    w = (rng.standard_normal((k, n)) * 0.05).astype(f32)
    x = rng.standard_normal((rows, k)).astype(f32)
    flags = ["--quantize=w4", "--group-size=32"]
    f32_path = compile_run(build_dir, tmp_path, model(w, rows), x, flags,
                           False)
    with_var = compile_run(build_dir, tmp_path, model(w, rows), x, flags,
                           False, {"QOPT_W4_ACTIVATIONS": "int8"})
    np.testing.assert_array_equal(with_var, f32_path)
    int8 = compile_run(build_dir, tmp_path, model(w, rows), x, flags, True)
    assert not np.array_equal(int8, f32_path)
    bindir = os.path.join(build_dir, "bin")
    report = tmp_path / "r.json"
    (tmp_path / "eval" / "s0").mkdir(parents=True)
    np.save(tmp_path / "eval" / "s0" / "x.npy", x)
    subprocess.run([os.path.join(bindir, "quant-compile"),
                    str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m2.so"),
                    *flags, "--w4-activations=int8", f"--report={report}",
                    f"--eval-data={tmp_path / 'eval'}",
                    "--report-latency-runs=0"], check=True)
    import json
    layers = json.loads(report.read_text())["layers"]
    assert [l["quantized_as"] for l in layers] == [
        "int4 g32, activations int8 per token and block"]


@pytest.mark.parametrize("flags,message", [
    (["--quantize=w8", "--w4-activations=int8"],
     "--w4-activations is for --quantize=w4"),
    (["--quantize=w4", "--group-size=12", "--w4-activations=int8"],
     "--w4-activations=int8 needs a --group-size that is a multiple of 8"),
])
def test_option_errors(build_dir, tmp_path, flags, message):
    w = np.ones((48, 8), f32)
    onnx.save(model(w, 2), tmp_path / "m.onnx")
    r = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                        str(tmp_path / "m.onnx"), "-o",
                        str(tmp_path / "m.so"), *flags],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert message in r.stderr

"""Imported ONNX models compiled by quant-opt against onnxruntime on the same
inputs: linear layers, element-wise ops and activations, broadcasting,
QuantizeLinear/DequantizeLinear."""

import functools

import numpy as np
import pytest
from onnx import helper, numpy_helper

from onnx_harness import check as harness_check
from onnx_harness import make_model, run_quant_opt, vi

check = functools.partial(harness_check, all_outputs=False)


def test_mlp_matmul_bias_gelu_gemm(tmp_path, build_dir):
    rng = np.random.default_rng(0)
    w1 = rng.normal(size=(8, 16)).astype(np.float32)  # [in, out]
    b1 = rng.normal(size=(16,)).astype(np.float32)
    w2 = rng.normal(size=(4, 16)).astype(np.float32)  # [out, in], transB
    b2 = rng.normal(size=(4,)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "onnx::MatMul_1"], ["h"],
                         name="/layers.0/fc1/MatMul"),
        helper.make_node("Add", ["h", "fc1.bias"], ["hb"]),
        helper.make_node("Gelu", ["hb"], ["g"]),
        helper.make_node("Gemm", ["g", "fc2.weight", "fc2.bias"], ["y"],
                         transB=1),
    ]
    inits = [numpy_helper.from_array(w1, "onnx::MatMul_1"),
             numpy_helper.from_array(b1, "fc1.bias"),
             numpy_helper.from_array(w2, "fc2.weight"),
             numpy_helper.from_array(b2, "fc2.bias")]
    model = make_model(nodes, [vi("x", ["batch", 8])], [vi("y", ["batch", 4])],
                       inits, opset=20)
    x = rng.normal(size=(3, 8)).astype(np.float32)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref)


UNARY = [
    ("Exp", {}), ("Tanh", {}), ("Sigmoid", {}), ("Erf", {}), ("Softplus", {}),
    ("Softsign", {}), ("LeakyRelu", {"alpha": 0.2}), ("Elu", {"alpha": 0.7}),
    ("Selu", {}), ("Celu", {"alpha": 1.5}), ("HardSigmoid", {}),
    ("HardSwish", {}), ("Mish", {}), ("Neg", {}), ("Abs", {}), ("Sign", {}),
    ("Floor", {}), ("Ceil", {}), ("Round", {}), ("Sin", {}), ("Cos", {}),
    ("Relu", {}), ("ThresholdedRelu", {"alpha": 0.5}),
]


def test_unary_ops(tmp_path, build_dir):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(2, 3, 5)) * 2).astype(np.float32)
    x[0, 0, :4] = [0.5, 1.5, -2.5, 0.0]  # Round ties to even
    nodes, outs = [], []
    for op, attrs in UNARY:
        nodes.append(helper.make_node(op, ["x"], [op.lower()], **attrs))
        outs.append(vi(op.lower(), [2, 3, 5]))
    # Ops with a restricted domain.
    nodes += [helper.make_node("Abs", ["x"], ["ax"]),
              helper.make_node("Log", ["ax"], ["log"]),
              helper.make_node("Sqrt", ["ax"], ["sqrt"]),
              helper.make_node("Reciprocal", ["ax"], ["recip"])]
    outs += [vi(n, [2, 3, 5]) for n in ("log", "sqrt", "recip")]
    x[1, 1, 1] = 0.25
    model = make_model(nodes, [vi("x", [2, 3, 5])], outs, opset=18)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref, rtol=2e-4, atol=2e-5)


def test_broadcasting_binary_and_where(tmp_path, build_dir):
    rng = np.random.default_rng(2)
    a = rng.normal(size=(2, 3, 4)).astype(np.float32)
    b = rng.uniform(0.5, 2.0, size=(3, 1)).astype(np.float32)
    c = rng.normal(size=(4,)).astype(np.float32)
    nodes = [
        helper.make_node("Add", ["a", "b"], ["add"]),
        helper.make_node("Sub", ["a", "c"], ["sub"]),
        helper.make_node("Mul", ["b", "c"], ["mul"]),
        helper.make_node("Div", ["a", "b"], ["div"]),
        helper.make_node("Pow", ["b", "c"], ["pow"]),
        helper.make_node("Max", ["a", "b", "c"], ["max"]),
        helper.make_node("Min", ["a", "c"], ["min"]),
        helper.make_node("Sum", ["a", "b", "c"], ["sum"]),
        helper.make_node("Mean", ["a", "c"], ["mean"]),
        helper.make_node("Greater", ["a", "c"], ["gt"]),
        helper.make_node("Where", ["gt", "a", "b"], ["where"]),
        helper.make_node("PRelu", ["a", "c"], ["prelu"]),
        helper.make_node("Clip", ["a", "lo", "hi"], ["clip"]),
    ]
    inits = [numpy_helper.from_array(np.array(-0.5, np.float32), "lo"),
             numpy_helper.from_array(np.array(0.75, np.float32), "hi")]
    shapes = {"add": [2, 3, 4], "sub": [2, 3, 4], "mul": [3, 4],
              "div": [2, 3, 4], "pow": [3, 4], "max": [2, 3, 4],
              "min": [2, 3, 4], "sum": [2, 3, 4], "mean": [2, 3, 4],
              "where": [2, 3, 4], "prelu": [2, 3, 4], "clip": [2, 3, 4]}
    model = make_model(nodes, [vi("a", [2, 3, 4]), vi("b", [3, 1]),
                               vi("c", [4])],
                       [vi(k, v) for k, v in shapes.items()], inits)
    ours, ref = run_quant_opt(model, {"a": a, "b": b, "c": c}, tmp_path,
                              build_dir)
    check(ours, ref, rtol=2e-4, atol=2e-5)


def test_gemm_general_and_batch_matmul(tmp_path, build_dir):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 5)).astype(np.float32)
    b = rng.normal(size=(3, 2)).astype(np.float32)
    c = rng.normal(size=(5, 2)).astype(np.float32)
    p = rng.normal(size=(2, 1, 4, 6)).astype(np.float32)
    q = rng.normal(size=(3, 6, 5)).astype(np.float32)
    v = rng.normal(size=(6,)).astype(np.float32)
    nodes = [
        helper.make_node("Gemm", ["a", "b", "c"], ["gemm"], transA=1,
                         alpha=2.5, beta=0.5),
        helper.make_node("MatMul", ["p", "q"], ["bmm"]),
        helper.make_node("MatMul", ["p", "v"], ["mv"]),
    ]
    model = make_model(nodes, [vi("a", [3, 5]), vi("b", [3, 2]),
                               vi("c", [5, 2]), vi("p", [2, 1, 4, 6]),
                               vi("q", [3, 6, 5]), vi("v", [6])],
                       [vi("gemm", [5, 2]), vi("bmm", [2, 3, 4, 5]),
                        vi("mv", [2, 1, 4])])
    ours, ref = run_quant_opt(model, {"a": a, "b": b, "c": c, "p": p,
                                      "q": q, "v": v}, tmp_path, build_dir)
    check(ours, ref)


@pytest.mark.parametrize("zp_dtype", [np.uint8, np.int8])
def test_qdq_linear(tmp_path, build_dir, zp_dtype):
    """A QDQ model as onnxruntime's quantizer writes it: activations per
    tensor, the weight int8 per output channel (axis 1 of [in, out])."""
    rng = np.random.default_rng(4)
    w = rng.normal(size=(8, 4)).astype(np.float32)
    w_scale = (np.abs(w).max(axis=0) / 127).astype(np.float32)
    w_q = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
    zp = np.array(128 if zp_dtype == np.uint8 else 3, zp_dtype)
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["wd"],
                         axis=1),
        helper.make_node("MatMul", ["xd", "wd"], ["y"]),
    ]
    inits = [numpy_helper.from_array(np.array(0.02, np.float32), "x_scale"),
             numpy_helper.from_array(zp, "x_zp"),
             numpy_helper.from_array(w_q, "w_q"),
             numpy_helper.from_array(w_scale, "w_scale"),
             numpy_helper.from_array(np.zeros(4, np.int8), "w_zp")]
    model = make_model(nodes, [vi("x", [2, 8])], [vi("y", [2, 4]),
                                                   vi("xd", [2, 8])], inits)
    x = rng.normal(size=(2, 8)).astype(np.float32)
    x[0, :3] = [0.01, 0.03, -0.05]  # exact ties on the 0.02 grid
    x[1, 0] = 100.0  # saturates
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref)

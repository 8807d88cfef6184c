"""Matmul epilogues fused into qopt_kernel_matmul_f32_fused
(lib/Conversion/KernelCalls/MatmulEpilogue.cpp, Kernels.cpp's GEMM with a
GemmEpilogue): bias, residual, GELU (erf and tanh forms), SiLU, Sigmoid
and SwiGLU's gate computed by the runtime's vector math (Simd.h) on each C
block; compiled models against onnxruntime, with the number of fused calls
and of activation loops left in the artifact's code. Also GPT-2-style
(tanh GELU with Pow(x, 3)) and Llama/BERT-style transformer blocks
(benchmarks/ptq/bench_w4.py)."""

import os
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from test_conv_epilogue import compile_and_run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
FUSED = "llvm.call @qopt_kernel_matmul_f32_fused"
PLAIN = "llvm.call @qopt_kernel_matmul_f32("


def mlp(path, act, seed=0, seq=12, hidden=40, inter=72):
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def c(v, name):
        inits.append(numpy_helper.from_array(np.asarray(v, np.float32), name))
        return name

    def op(kind, ins, out, **attrs):
        nodes.append(helper.make_node(kind, ins, [out], name=out, **attrs))
        return out

    h = op("MatMul", ["x", c(rng.normal(0, 0.3, (hidden, inter)), "w1")], "mm1")
    h = op("Add", [h, c(rng.normal(0, 0.2, inter), "b1")], "fc1")
    if act == "gelu_erf":
        e = op("Erf", [op("Div", [h, c(np.sqrt(2), "sq2")], "d")], "erf")
        y = op("Mul", [op("Mul", [h, op("Add", [e, c(1, "one")], "a1")], "m1"),
                       c(0.5, "half")], "act")
    elif act == "gelu_tanh":  # GPT-2's NewGELUActivation as exported
        cube = op("Pow", [h, c(3.0, "three")], "cube")
        inner = op("Add", [h, op("Mul", [c(0.044715, "k"), cube], "kc")], "in")
        t = op("Tanh", [op("Mul", [c(np.sqrt(2 / np.pi), "s2pi"), inner],
                           "arg")], "t")
        y = op("Mul", [op("Mul", [c(0.5, "half"), h], "hh"),
                       op("Add", [c(1, "one"), t], "t1")], "act")
    elif act == "silu":
        y = op("Mul", [h, op("Sigmoid", [h], "sg")], "act")
    elif act == "sigmoid":
        y = op("Sigmoid", [h], "act")
    else:
        raise ValueError(act)
    out = op("MatMul", [y, c(rng.normal(0, 0.2, (inter, hidden)), "w2")], "mm2")
    out = op("Add", [op("Add", [out, c(rng.normal(0, 0.2, hidden), "b2")],
                        "fc2"), "x"], "y")
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                       [1, seq, hidden])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                       [1, seq, hidden])], inits)
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return str(path)


@pytest.mark.parametrize("act", ["gelu_erf", "gelu_tanh", "silu", "sigmoid"])
def test_mlp_activation_fused(build_dir, tmp_path, act):
    model = mlp(tmp_path / "m.onnx", act)
    x = np.random.default_rng(1).normal(size=(1, 12, 40)).astype(np.float32)
    ours, ref, mlir = compile_and_run(build_dir, model, x, str(tmp_path))
    np.testing.assert_allclose(ours["y"], ref["y"], rtol=1e-4, atol=1e-4)
    # Both matmuls fused (fc1 + bias + activation, fc2 + bias + residual):
    # no loop nest is left, so no async-parallel-for dispatch either.
    assert mlir.count(FUSED) == 2 and PLAIN not in mlir
    assert "mlirAsyncRuntime" not in mlir


def transformer(path, arch):
    sys.path.insert(0, os.path.join(ROOT, "benchmarks", "ptq"))
    import bench_w4
    model = bench_w4.build(arch, 1, 16, 0)
    model.graph.input[0].name = "x"
    for node in model.graph.node:
        node.input[:] = ["x" if i == "hidden_states" else i
                         for i in node.input]
    onnx.save(model, path)
    return str(path)


@pytest.mark.parametrize("arch,fused_acts", [("llama", 1), ("bert", 1)])
def test_transformer_blocks(build_dir, tmp_path, arch, fused_acts):
    """Llama-style (SwiGLU: silu(gate) * up fused into the gate matmul) and
    BERT-style (GELU into fc1, residual adds into o_proj and fc2) blocks."""
    model = transformer(tmp_path / "m.onnx", arch)
    x = np.random.default_rng(2).normal(size=(1, 16, 256)).astype(np.float32)
    ours, ref, mlir = compile_and_run(build_dir, model, x, str(tmp_path))
    np.testing.assert_allclose(ours["output"], ref["output"], rtol=2e-4,
                               atol=2e-4)
    assert PLAIN not in mlir and mlir.count(FUSED) >= 7

"""Depthwise convolutions through qopt_kernel_conv2d_depthwise_f32
(lib/Conversion/KernelCalls/DepthwiseConv.cpp, lib/Runtime/
DepthwiseKernels.cpp): the padding, the bias (BatchNormalization folded
into it) and the activation / residual consumer taken over by the call;
compiled models against onnxruntime, with the number of depthwise calls
and of leftover padded copies in the artifact's code. Also the
MobileNetV3-style model of benchmarks/cpu/model_zoo.py."""

import os
import sys

import numpy as np
import pytest

from test_conv_epilogue import ACTS, Graph, activation, compile_and_run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DW = "llvm.call @qopt_kernel_conv2d_depthwise_f32"
GROUPED = "llvm.call @qopt_kernel_conv2d_grouped_f32"


def depthwise(g, x, c, k, mult=1, bias=True, **attrs):
    w = g.rng.normal(0, 1 / k, (c * mult, 1, k, k))
    ins = [x, g.init(w)]
    if bias:
        ins.append(g.init(g.rng.normal(0, 0.3, c * mult)))
    return g.op("Conv", ins, kernel_shape=[k, k], group=c, **attrs)


@pytest.mark.parametrize("act", ["none"] + ACTS)
def test_depthwise_bn_activation(build_dir, tmp_path, act):
    g = Graph(3)
    y = g.bn(depthwise(g, "x", 24, 3, bias=False, pads=[1] * 4), 24)
    if act != "none":
        y = activation(g, act, y)
    model = g.save(tmp_path / "m.onnx", [1, 24, 19, 21], [y])
    x = np.random.default_rng(4).normal(size=(1, 24, 19, 21)).astype(
        np.float32)
    ours, ref, mlir = compile_and_run(build_dir, model, x, str(tmp_path))
    np.testing.assert_allclose(ours[y], ref[y], rtol=1e-4, atol=1e-4)
    assert mlir.count(DW) == 1 and GROUPED not in mlir
    # The padded copy is gone (no memrefCopy of the input, no fill loop
    # left for the pad or the bias).
    assert "memrefCopy" not in mlir


@pytest.mark.parametrize("case", [
    dict(k=5, strides=[2, 2], pads=[2] * 4),
    dict(k=3, strides=[2, 2], pads=[1] * 4),
    dict(k=3, dilations=[2, 2], pads=[2] * 4),
    dict(k=3, pads=[0, 1, 2, 0], strides=[1, 2]),
    dict(k=3, pads=[0] * 4, mult=2),
    dict(k=7, pads=[3] * 4),
])
def test_depthwise_shapes(build_dir, tmp_path, case):
    case = dict(case)
    k, mult = case.pop("k"), case.pop("mult", 1)
    g = Graph(5)
    y = g.op("Relu", [depthwise(g, "x", 16, k, mult=mult, **case)])
    model = g.save(tmp_path / "m.onnx", [2, 16, 23, 17], [y])
    x = np.random.default_rng(6).normal(size=(2, 16, 23, 17)).astype(
        np.float32)
    ours, ref, mlir = compile_and_run(build_dir, model, x, str(tmp_path))
    np.testing.assert_allclose(ours[y], ref[y], rtol=1e-4, atol=1e-4)
    assert mlir.count(DW) == 1


def test_inverted_residual_block(build_dir, tmp_path):
    """1x1 expand + HardSwish, depthwise + BN + HardSwish, 1x1 project + BN,
    residual add; the depthwise output also read by a second branch (then
    its consumer stays a loop but the call still runs)."""
    g = Graph(7)
    e = g.op("HardSwish", [g.bn(g.conv("x", 8, 32, (1, 1), bias=False), 32)])
    d = g.op("HardSwish", [g.bn(depthwise(g, e, 32, 3, bias=False,
                                          pads=[1] * 4), 32)])
    p = g.bn(g.conv(d, 32, 8, (1, 1), bias=False), 8)
    y = g.op("Add", ["x", p])
    d2 = depthwise(g, e, 32, 3, pads=[1] * 4)
    z = g.op("Add", [g.op("Relu", [d2]), g.op("Sigmoid", [d2])])
    model = g.save(tmp_path / "m.onnx", [1, 8, 28, 28], [y, z])
    x = np.random.default_rng(8).normal(size=(1, 8, 28, 28)).astype(
        np.float32)
    ours, ref, mlir = compile_and_run(build_dir, model, x, str(tmp_path))
    for name in (y, z):
        np.testing.assert_allclose(ours[name], ref[name], rtol=1e-4,
                                   atol=1e-4, err_msg=name)
    assert mlir.count(DW) == 2


def test_mobilenet_zoo_model(build_dir, tmp_path):
    """benchmarks/cpu/model_zoo.py's MobileNetV3-style classifier (10
    depthwise convs, HardSwish) against onnxruntime."""
    sys.path.insert(0, os.path.join(ROOT, "benchmarks", "cpu"))
    import model_zoo
    model, inp = model_zoo.write_model(str(tmp_path), "mobilenet")
    x = np.load(inp)
    import onnx
    onnx_model = onnx.load(model)
    onnx_model.graph.input[0].name = "x"
    out = onnx_model.graph.output[0].name
    onnx_model.graph.output[0].name = "y"
    for node in onnx_model.graph.node:
        node.input[:] = ["x" if i == "image" else i for i in node.input]
        node.output[:] = ["y" if o == out else o for o in node.output]
    path = os.path.join(str(tmp_path), "m.onnx")
    onnx.save(onnx_model, path)
    ours, ref, mlir = compile_and_run(build_dir, path, x, str(tmp_path))
    (name, want), = ref.items()
    np.testing.assert_allclose(ours[name], want, rtol=1e-3,
                               atol=1e-3 * np.abs(want).max())
    assert mlir.count(DW) == 10

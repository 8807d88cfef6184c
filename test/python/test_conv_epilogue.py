"""Convolutions compiled with their bias, residual add and activation in
the conv kernel's epilogue (lib/Conversion/KernelCalls/ConvEpilogue.cpp,
qopt_kernel_conv2d_nchw_f32_fused): compiled models against onnxruntime,
and the number of fused calls the artifact's code makes (--emit=mlir), so
that a fusion that stops matching is noticed."""

import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

FUSED = "llvm.call @qopt_kernel_conv2d_nchw_f32_fused"
PLAIN = "llvm.call @qopt_kernel_conv2d_nchw_f32("


class Graph:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def init(self, value, dtype=np.float32):
        name = f"i{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype),
                                                  name))
        return name

    def op(self, op_type, inputs, **attrs):
        self.n += 1
        out = f"{op_type.lower()}{self.n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out],
                                           name=out, **attrs))
        return out

    def conv(self, x, cin, cout, k, stride=(1, 1), dil=(1, 1), pad=None,
             bias=True):
        w = self.rng.normal(0, 1 / np.sqrt(cin * k[0] * k[1]),
                            (cout, cin, *k))
        ins = [x, self.init(w)]
        if bias:
            ins.append(self.init(self.rng.normal(0, 0.3, cout)))
        pads = pad if pad is not None else [k[0] // 2, k[1] // 2] * 2
        return self.op("Conv", ins, kernel_shape=list(k), strides=list(stride),
                       dilations=list(dil), pads=pads)

    def bn(self, x, c):
        r = self.rng
        return self.op("BatchNormalization", [
            x, self.init(1 + r.normal(0, 0.2, c)),
            self.init(r.normal(0, 0.1, c)), self.init(r.normal(0, 0.3, c)),
            self.init(np.exp(r.normal(0, 0.5, c)))], epsilon=1e-5)

    def save(self, path, x_shape, outs, opset=17):
        graph = helper.make_graph(
            self.nodes, "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, None)
             for o in outs], initializer=self.inits)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 8
        onnx.save(model, path)
        return str(path)


def compile_and_run(build_dir, model, x, tmp, extra=()):
    """(outputs by name, LLVM-dialect text of the artifact's code)."""
    so = os.path.join(tmp, "m.so")
    qc = os.path.join(build_dir, "bin", "quant-compile")
    subprocess.run([qc, model, "-o", so, *extra], check=True)
    mlir = subprocess.run([qc, model, "--emit=mlir", "-o", "-", *extra],
                          check=True, capture_output=True, text=True).stdout
    np.save(os.path.join(tmp, "x.npy"), x)
    out_dir = os.path.join(tmp, "out")
    res = subprocess.run([os.path.join(build_dir, "bin", "quant-run"), so,
                          "--input", f"x={tmp}/x.npy", "--output-dir",
                          out_dir, "--threads", "2"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    ref = dict(zip(names, sess.run(None, {"x": x})))
    ours = {n: np.load(os.path.join(out_dir, n + ".npy")) for n in names}
    return ours, ref, mlir


def activation(g, kind, x):
    if kind == "relu":
        return g.op("Relu", [x])
    if kind == "clip6":  # ReLU6, min/max as inputs (opset >= 11)
        return g.op("Clip", [x, g.init(0.0), g.init(6.0)])
    if kind == "clip_min":
        return g.op("Clip", [x, g.init(-0.5)])
    if kind == "leaky":
        return g.op("LeakyRelu", [x], alpha=0.1)
    if kind == "sigmoid":
        return g.op("Sigmoid", [x])
    if kind == "hardswish":
        return g.op("HardSwish", [x])
    if kind == "silu":
        return g.op("Mul", [x, g.op("Sigmoid", [x])])
    raise ValueError(kind)


ACTS = ["relu", "clip6", "clip_min", "leaky", "hardswish", "sigmoid", "silu"]


@pytest.mark.parametrize("act", ACTS)
def test_conv_bias_activation(build_dir, tmp_path, act):
    g = Graph(1)
    y = activation(g, act, g.conv("x", 5, 19, (3, 3)))
    model = g.save(tmp_path / "m.onnx", [1, 5, 13, 11], [y])
    x = np.random.default_rng(2).normal(size=(1, 5, 13, 11)).astype(np.float32)
    ours, ref, mlir = compile_and_run(build_dir, model, x, str(tmp_path))
    np.testing.assert_allclose(ours[y], ref[y], rtol=1e-4, atol=1e-4)
    # Sigmoid and SiLU reach the kernel-call conversion with exp already
    # expanded into a polynomial (approximate-math): the kernel takes over
    # the bias only and the activation stays a loop
    # (test/Conversion/conv-epilogue.mlir fuses their exact form).
    assert mlir.count(FUSED) == 1 and PLAIN not in mlir


def test_resnet_block_residual(build_dir, tmp_path):
    """Conv + BN + ReLU, Conv + BN, + shortcut, ReLU: both convs fused (the
    second with the residual add), odd sizes, a stride-2 1x1 projection."""
    g = Graph(3)
    a = g.op("Relu", [g.bn(g.conv("x", 6, 10, (3, 3), bias=False), 10)])
    b = g.bn(g.conv(a, 10, 10, (3, 3), stride=(2, 2), bias=False), 10)
    sc = g.bn(g.conv("x", 6, 10, (1, 1), stride=(2, 2), bias=False), 10)
    y = g.op("Relu", [g.op("Add", [b, sc])])
    model = g.save(tmp_path / "m.onnx", [2, 6, 15, 17], [y])
    x = np.random.default_rng(4).normal(size=(2, 6, 15, 17)).astype(np.float32)
    ours, ref, mlir = compile_and_run(build_dir, model, x, str(tmp_path))
    np.testing.assert_allclose(ours[y], ref[y], rtol=1e-4, atol=1e-4)
    # conv a (relu), conv b (residual sc + relu) and sc (bias only).
    assert mlir.count(FUSED) == 3 and PLAIN not in mlir


def test_odd_windows(build_dir, tmp_path):
    """Dilations, asymmetric pads, wide and 1-row maps, column stride 2."""
    g = Graph(5)
    a = g.op("Relu", [g.conv("x", 3, 9, (3, 2), dil=(2, 3),
                             pad=[2, 1, 1, 3])])
    b = g.op("HardSwish", [g.conv(a, 9, 4, (1, 5), stride=(1, 2))])
    c = g.op("LeakyRelu", [g.conv(b, 4, 33, (5, 5), stride=(2, 1))],
             alpha=0.2)
    model = g.save(tmp_path / "m.onnx", [1, 3, 9, 70], [c])
    x = np.random.default_rng(6).normal(size=(1, 3, 9, 70)).astype(np.float32)
    ours, ref, mlir = compile_and_run(build_dir, model, x, str(tmp_path))
    np.testing.assert_allclose(ours[c], ref[c], rtol=1e-4, atol=1e-4)
    assert mlir.count(FUSED) == 3


def test_shared_conv_output_not_fused_into_consumers(build_dir, tmp_path):
    """A conv output read by two nodes (and a graph output): only the bias
    is taken over; both consumers stay loops and see the conv's values."""
    g = Graph(7)
    c = g.conv("x", 4, 8, (3, 3))
    r = g.op("Relu", [c])
    s = g.op("Sigmoid", [c])
    model = g.save(tmp_path / "m.onnx", [1, 4, 10, 10], [r, s, c])
    x = np.random.default_rng(8).normal(size=(1, 4, 10, 10)).astype(np.float32)
    ours, ref, mlir = compile_and_run(build_dir, model, x, str(tmp_path))
    for name in (r, s, c):
        np.testing.assert_allclose(ours[name], ref[name], rtol=1e-4,
                                   atol=1e-4)
    assert mlir.count(FUSED) == 1


def test_residual_from_before_and_after(build_dir, tmp_path):
    """Add(conv, t) where t is computed after the conv in graph order: the
    fused call runs where the Add was, once t exists."""
    g = Graph(9)
    c = g.conv("x", 4, 4, (3, 3))
    t = g.op("Sigmoid", [g.op("Neg", ["x"])])
    y = g.op("Relu", [g.op("Add", [t, c])])
    model = g.save(tmp_path / "m.onnx", [1, 4, 12, 12], [y])
    x = np.random.default_rng(10).normal(size=(1, 4, 12, 12)).astype(np.float32)
    ours, ref, _ = compile_and_run(build_dir, model, x, str(tmp_path))
    np.testing.assert_allclose(ours[y], ref[y], rtol=1e-4, atol=1e-4)


def test_grouped_and_depthwise(build_dir, tmp_path):
    """Grouped convs go to qopt_kernel_conv2d_grouped_f32, depthwise ones
    (stride 2, dilation 2) to qopt_kernel_conv2d_depthwise_f32
    (test_depthwise_conv.py); ConvTranspose's backwards windows stay loops;
    all against onnxruntime."""
    g = Graph(11)

    def grouped(x, cin, cout, k, group, **attrs):
        w = g.rng.normal(0, 0.5, (cout, cin // group, k, k))
        return g.op("Conv", [x, g.init(w), g.init(g.rng.normal(0, 0.3, cout))],
                    kernel_shape=[k, k], group=group, **attrs)

    a = g.op("Relu", [grouped("x", 16, 16, 3, 16, pads=[1] * 4)])
    b = grouped(a, 16, 16, 5, 16, pads=[2] * 4, strides=[2, 2])
    c = grouped(b, 16, 16, 3, 16, pads=[2] * 4, dilations=[2, 2])
    d = grouped(c, 16, 12, 3, 4, pads=[1, 0, 1, 0], strides=[1, 2])
    t = g.op("ConvTranspose", [d, g.init(g.rng.normal(0, 0.3, (12, 3, 3, 3)))],
             group=4, strides=[2, 2])
    model = g.save(tmp_path / "m.onnx", [2, 16, 23, 37], [d, t])
    x = np.random.default_rng(12).normal(size=(2, 16, 23, 37)).astype(
        np.float32)
    ours, ref, mlir = compile_and_run(build_dir, model, x, str(tmp_path))
    for name in (d, t):
        np.testing.assert_allclose(ours[name], ref[name], rtol=1e-4,
                                   atol=1e-4)
    assert mlir.count("llvm.call @qopt_kernel_conv2d_grouped_f32") == 1
    assert mlir.count("llvm.call @qopt_kernel_conv2d_depthwise_f32") == 3


@pytest.mark.parametrize("cout", [24, 1280])
def test_conv_one_output_pixel(build_dir, tmp_path, cout):
    """Convolutions with a 1x1 output (squeeze-excitation blocks after a
    global pooling, a 3x3 window over a 3x3 input, a classifier head of
    1280 channels) go through the kernel's GEMV path (convGemv): bias,
    activation and residual epilogues, over the parallel filter blocks."""
    g = Graph(11)
    p = g.op("GlobalAveragePool", ["x"])
    s = g.op("Relu", [g.conv(p, 40, cout, (1, 1), pad=[0] * 4)])
    e = g.op("HardSigmoid", [g.conv(s, cout, 40, (1, 1), pad=[0] * 4)],
             alpha=1 / 6, beta=0.5)
    # A window over the whole (pooled-to-3x3) input, plus a residual.
    q = g.op("AveragePool", ["x"], kernel_shape=[3, 3], strides=[3, 3])
    w = g.op("Add", [g.conv(q, 40, 40, (3, 3), pad=[0] * 4), e])
    y = g.op("Mul", ["x", w])
    model = g.save(tmp_path / "m.onnx", [2, 40, 9, 9], [y, s])
    x = np.random.default_rng(12).normal(size=(2, 40, 9, 9)).astype(
        np.float32)
    ours, ref, mlir = compile_and_run(build_dir, model, x, str(tmp_path))
    for name in (y, s):
        np.testing.assert_allclose(ours[name], ref[name], rtol=1e-4,
                                   atol=1e-4)
    assert mlir.count("llvm.call @qopt_kernel_conv2d_nchw_f32") >= 3


def test_conv_one_output_pixel_int8(build_dir, tmp_path):
    """W8A8: the int8 one-pixel convolutions (convS8Gemv) sum exactly what
    the GEMM path ($QOPT_CONV=gemm) sums: bit-identical outputs; and close
    to onnxruntime's float ones."""
    g = Graph(13)
    p = g.op("GlobalAveragePool", ["x"])
    s = g.op("Relu", [g.conv(p, 72, 300, (1, 1), pad=[0] * 4)])
    y = g.op("Sigmoid", [g.conv(s, 300, 72, (1, 1), pad=[0] * 4)])
    model = g.save(tmp_path / "m.onnx", [1, 72, 6, 6], [y])
    rng = np.random.default_rng(14)
    calib = tmp_path / "calib"
    for i in range(4):
        (calib / f"s{i}").mkdir(parents=True)
        np.save(calib / f"s{i}" / "x.npy",
                rng.normal(size=(1, 72, 6, 6)).astype(np.float32))
    x = rng.normal(size=(1, 72, 6, 6)).astype(np.float32)
    ours, ref, mlir = compile_and_run(
        build_dir, model, x, str(tmp_path),
        ["--quantize=w8a8", f"--calibration-data={calib}"])
    assert mlir.count("llvm.call @qopt_kernel_conv2d_nchw_s8") == 2
    np.testing.assert_allclose(ours[y], ref[y], atol=0.03)
    res = subprocess.run([os.path.join(build_dir, "bin", "quant-run"),
                          str(tmp_path / "m.so"), "--input",
                          f"x={tmp_path}/x.npy", "--output-dir",
                          str(tmp_path / "gemm")], capture_output=True,
                         text=True, env={**os.environ, "QOPT_CONV": "gemm"})
    assert res.returncode == 0, res.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "gemm" / (y + ".npy")),
                                  ours[y])

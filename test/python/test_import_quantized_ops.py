"""DynamicQuantizeLinear, MatMulInteger, QLinearMatMul, ConvInteger and
QLinearConv imported by quant-translate, compiled by quant-opt and compared
with onnxruntime. The harness feeds and compares float32 only, so integer
inputs are cast from float inputs and integer outputs cast back to float
inside the models; integer results must match exactly."""

import functools

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from onnx_harness import check as harness_check
from onnx_harness import make_model, run_quant_opt, vi

F, U8, I8, I32 = (TensorProto.FLOAT, TensorProto.UINT8, TensorProto.INT8,
                  TensorProto.INT32)
NP = {U8: np.uint8, I8: np.int8, I32: np.int32, F: np.float32}

# mlir-runner prints 6 decimals: exact for the integers, close for the
# scales.
check = functools.partial(harness_check, rtol=1e-6, atol=1e-6)


def const(name, value, dtype):
    return numpy_helper.from_array(np.asarray(value, dtype=NP[dtype]), name)


class Builder:
    """Collects float inputs (cast to integer types in the model), nodes,
    initializers and float outputs."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inputs, self.outputs, self.inits = [], [], [], []
        self.feed = {}

    def int_input(self, name, shape, dtype):
        lo, hi = (0, 256) if dtype == U8 else (-128, 128)
        self.feed[name + "_f"] = self.rng.integers(
            lo, hi, size=shape).astype(np.float32)
        self.inputs.append(vi(name + "_f", list(shape)))
        self.nodes.append(helper.make_node("Cast", [name + "_f"], [name],
                                           to=dtype))
        return name

    def int_const(self, name, shape, dtype):
        lo, hi = (0, 256) if dtype == U8 else (-128, 128)
        self.inits.append(const(name, self.rng.integers(lo, hi, size=shape),
                                dtype))
        return name

    def const(self, name, value, dtype):
        self.inits.append(const(name, value, dtype))
        return name

    def node(self, op, ins, out, float_out=True, **attrs):
        if float_out:
            self.nodes.append(helper.make_node(op, ins, [out + "_i"], **attrs))
            self.nodes.append(helper.make_node("Cast", [out + "_i"], [out],
                                               to=F))
        else:
            self.nodes.append(helper.make_node(op, ins, [out], **attrs))
        self.outputs.append(vi(out))

    def run(self, tmp_path, build_dir, opset=17):
        model = make_model(self.nodes, self.inputs, self.outputs, self.inits,
                           opset)
        return run_quant_opt(model, self.feed, tmp_path, build_dir)


def test_dynamic_quantize_linear(tmp_path, build_dir):
    rng = np.random.default_rng(0)
    nodes, outs = [], []
    for name in ("mixed", "positive", "negative", "zeros"):
        nodes.append(helper.make_node("DynamicQuantizeLinear", [name],
                                      [name + "_y", name + "_s", name + "_z"]))
        nodes.append(helper.make_node("Cast", [name + "_y"], [name + "_yf"],
                                      to=F))
        nodes.append(helper.make_node("Cast", [name + "_z"], [name + "_zf"],
                                      to=F))
        outs += [vi(name + "_yf"), vi(name + "_s"), vi(name + "_zf")]
    feed = {
        "mixed": (rng.normal(size=(3, 4, 5)) * 3).astype(np.float32),
        "positive": rng.uniform(0.5, 4.0, size=(7,)).astype(np.float32),
        "negative": -rng.uniform(0.5, 4.0, size=(2, 6)).astype(np.float32),
        "zeros": np.zeros((2, 3), np.float32),
    }
    # Exact ties of x / scale round half to even.
    feed["mixed"][0, 0, :3] = [0.0, 1.0, -1.0]
    inputs = [vi(n, list(v.shape)) for n, v in feed.items()]
    model = make_model(nodes, inputs, outs)
    ours, ref = run_quant_opt(model, feed, tmp_path, build_dir)
    check(ours, ref)


def test_matmul_integer(tmp_path, build_dir):
    b = Builder(1)
    a_u8 = b.int_input("a_u8", (4, 6), U8)
    b_u8 = b.int_const("b_u8", (6, 5), U8)
    b.node("MatMulInteger", [a_u8, b_u8], "plain")
    b.node("MatMulInteger",
           [a_u8, b_u8, b.const("azp", 120, U8), b.const("bzp", [3], U8)],
           "scalar_zp")
    a_i8 = b.int_input("a_i8", (2, 3, 6), I8)
    b_i8 = b.int_input("b_i8", (6, 5), I8)
    b.node("MatMulInteger",
           [a_i8, b_i8, b.const("azp8", -5, I8),
            b.const("bzp8", [1, -2, 3, -4, 127], I8)], "per_column_zp")
    b.node("MatMulInteger", [a_u8, b_i8, "", b.const("bzp2", -7, I8)],
           "mixed_sign")
    bat = b.int_input("bat", (2, 6, 3), U8)
    b.node("MatMulInteger", [a_i8, bat], "signed_unsigned_batched",
           )
    vec = b.int_input("vec", (6,), U8)
    b.node("MatMulInteger", [vec, b_u8, "", b.const("bzp3", 200, U8)],
           "vector")
    ours, ref = b.run(tmp_path, build_dir)
    check(ours, ref)


def test_qlinear_matmul(tmp_path, build_dir):
    b = Builder(2)
    a = b.int_input("a", (3, 8), U8)
    w = b.int_const("w", (8, 4), U8)
    s = lambda n, v: b.const(n, v, F)
    b.node("QLinearMatMul",
           [a, s("as", 0.02), b.const("az", 128, U8), w, s("ws", 0.01),
            b.const("wz", 127, U8), s("ys", 0.05), b.const("yz", 100, U8)],
           "u8_u8_u8")
    a8 = b.int_input("a8", (2, 3, 8), I8)
    w8 = b.int_const("w8", (8, 4), I8)
    b.node("QLinearMatMul",
           [a8, s("as8", 0.03), b.const("az8", -3, I8), w8,
            s("ws8", [0.01, 0.02, 0.005, 0.04]),
            b.const("wz8", [0, 0, 0, 0], I8), s("ys8", 0.2),
            b.const("yz8", 5, I8)],
           "i8_per_column_i8")
    # Mixed signedness (onnxruntime wants y's type to be a's) and a
    # saturating output range.
    b.node("QLinearMatMul",
           [a, s("as2", 0.1), b.const("az2", 10, U8), w8, s("ws2", 0.1),
            b.const("wz2", 0, I8), s("ys2", 0.3), b.const("yz2", 20, U8)],
           "u8_i8_u8_saturating")
    ours, ref = b.run(tmp_path, build_dir)
    check(ours, ref)


def test_conv_integer(tmp_path, build_dir):
    b = Builder(3)
    x = b.int_input("x", (2, 4, 6, 7), U8)
    w = b.int_const("w", (5, 4, 3, 3), U8)
    b.node("ConvInteger", [x, w], "plain")
    # The padding holds x's zero point, so it contributes nothing.
    b.node("ConvInteger", [x, w, b.const("xz", 131, U8), b.const("wz", 9, U8)],
           "padded", pads=[1, 1, 1, 1], strides=[2, 1])
    w8 = b.int_const("w8", (6, 2, 3, 2), I8)
    b.node("ConvInteger", [x, w8, b.const("xz2", 60, U8)], "grouped_i8",
           group=2, pads=[0, 1, 2, 1], dilations=[1, 2])
    x8 = b.int_input("x8", (1, 3, 5, 5), I8)
    b.node("ConvInteger", [x8, b.int_const("w9", (4, 3, 2, 2), I8),
                           b.const("xz3", -4, I8), b.const("wz3", -1, I8)],
           "signed_same", auto_pad="SAME_UPPER", strides=[2, 2])
    ours, ref = b.run(tmp_path, build_dir)
    check(ours, ref)


def test_qlinear_conv(tmp_path, build_dir):
    b = Builder(4)
    s = lambda n, v: b.const(n, v, F)
    x = b.int_input("x", (2, 4, 6, 6), U8)
    w = b.int_const("w", (6, 4, 3, 3), U8)
    b.node("QLinearConv",
           [x, s("xs", 0.02), b.const("xz", 120, U8), w, s("ws", 0.01),
            b.const("wz", 128, U8), s("ys", 0.1), b.const("yz", 110, U8)],
           "u8", pads=[1, 1, 1, 1])
    w8 = b.int_const("w8", (6, 4, 3, 3), I8)
    bias = b.const("bias", [100, -200, 300, 0, 50, -1000], I32)
    b.node("QLinearConv",
           [x, s("xs2", 0.05), b.const("xz2", 128, U8), w8,
            s("ws2", [0.01, 0.02, 0.03, 0.005, 0.01, 0.02]),
            b.const("wz2", [0] * 6, I8), s("ys2", 0.3),
            b.const("yz2", 10, U8), bias],
           "per_channel_bias_u8_i8", strides=[2, 2], pads=[0, 1, 1, 0])
    x8 = b.int_input("x8", (1, 4, 5, 5), I8)
    wd = b.int_const("wd", (4, 1, 3, 3), I8)
    b.node("QLinearConv",
           [x8, s("xs3", 0.04), b.const("xz3", 3, I8), wd, s("ws3", 0.02),
            b.const("wz3", 0, I8), s("ys3", 0.05), b.const("yz3", 0, I8)],
           "depthwise_i8", group=4, auto_pad="SAME_LOWER")
    ours, ref = b.run(tmp_path, build_dir)
    check(ours, ref)

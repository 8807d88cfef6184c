"""Conv, ConvTranspose and pooling imported by quant-translate, compiled by
quant-opt and compared with onnxruntime on the same inputs."""

import functools

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from onnx_harness import check as harness_check
from onnx_harness import make_model, run_quant_opt, vi

F = TensorProto.FLOAT

check = functools.partial(harness_check, atol=1e-4)


def run_cases(cases, x, tmp_path, build_dir, opset=17, seed=0):
    """One model holding every case: (name, op, weight shape or None,
    bias?, attributes)."""
    rng = np.random.default_rng(seed)
    nodes, outs, inits = [], [], []
    for name, op, wshape, bias, attrs in cases:
        ins = ["x"]
        if wshape is not None:
            w = rng.normal(size=wshape).astype(np.float32)
            inits.append(numpy_helper.from_array(w, name + "_w"))
            ins.append(name + "_w")
        if bias:
            m = wshape[0] if op == "Conv" else wshape[1] * attrs.get("group", 1)
            inits.append(numpy_helper.from_array(
                rng.normal(size=(m,)).astype(np.float32), name + "_b"))
            ins.append(name + "_b")
        nodes.append(helper.make_node(op, ins, [name], **attrs))
        outs.append(vi(name))
    x_in = helper.make_tensor_value_info("x", F, ["N"] + list(x.shape[1:]))
    model = make_model(nodes, [x_in], outs, inits, opset)
    tmp_path.mkdir(parents=True, exist_ok=True)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref)


def test_conv_2d(tmp_path, build_dir):
    x = np.random.default_rng(1).normal(size=(2, 4, 7, 8)).astype(np.float32)
    cases = [
        ("plain", "Conv", (5, 4, 3, 3), True, {}),
        ("kshape", "Conv", (5, 4, 3, 3), False, {"kernel_shape": [3, 3]}),
        ("strided", "Conv", (5, 4, 3, 2), True,
         {"strides": [2, 3], "pads": [1, 0, 2, 1]}),
        ("dilated", "Conv", (3, 4, 3, 3), False,
         {"dilations": [2, 1], "pads": [2, 1, 2, 1]}),
        ("grouped", "Conv", (6, 2, 3, 3), True, {"group": 2, "pads": [1] * 4}),
        ("depthwise", "Conv", (8, 1, 3, 3), True,
         {"group": 4, "strides": [2, 2]}),
        ("same_upper", "Conv", (5, 4, 4, 3), False,
         {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
        ("same_lower", "Conv", (5, 4, 4, 3), True,
         {"auto_pad": "SAME_LOWER", "strides": [2, 2]}),
        ("valid", "Conv", (5, 4, 3, 3), False,
         {"auto_pad": "VALID", "strides": [2, 2], "dilations": [1, 2]}),
        ("pointwise", "Conv", (7, 4, 1, 1), True, {}),
    ]
    run_cases(cases, x, tmp_path, build_dir)


def test_conv_1d_3d(tmp_path, build_dir):
    rng = np.random.default_rng(2)
    x1 = rng.normal(size=(2, 3, 11)).astype(np.float32)
    run_cases([
        ("c1", "Conv", (4, 3, 3), True, {"pads": [1, 2], "strides": [2]}),
        ("c1g", "Conv", (6, 1, 5), False,
         {"group": 3, "dilations": [2], "pads": [3, 2]}),
        ("c1s", "Conv", (2, 3, 4), True,
         {"strides": [2], "auto_pad": "SAME_LOWER"}),
    ], x1, tmp_path / "a", build_dir)
    x3 = rng.normal(size=(1, 2, 5, 6, 4)).astype(np.float32)
    run_cases([
        ("c3", "Conv", (3, 2, 3, 3, 2), True,
         {"pads": [1, 1, 0, 1, 1, 1], "strides": [1, 2, 1]}),
        ("c3g", "Conv", (4, 1, 2, 2, 2), False, {"group": 2}),
    ], x3, tmp_path / "b", build_dir)


def test_conv_transpose(tmp_path, build_dir):
    x = np.random.default_rng(3).normal(size=(2, 4, 5, 4)).astype(np.float32)
    cases = [
        ("plain", "ConvTranspose", (4, 3, 3, 3), True, {}),
        ("strided", "ConvTranspose", (4, 2, 3, 3), False,
         {"strides": [2, 2], "pads": [1, 1, 1, 1]}),
        ("outpad", "ConvTranspose", (4, 2, 3, 2), True,
         {"strides": [2, 3], "pads": [1, 0, 0, 1], "output_padding": [1, 2]}),
        ("dilated", "ConvTranspose", (4, 3, 2, 3), False,
         {"dilations": [2, 2], "strides": [2, 1]}),
        ("grouped", "ConvTranspose", (4, 3, 3, 3), True,
         {"group": 2, "strides": [2, 2]}),
        ("depthwise", "ConvTranspose", (4, 1, 2, 2), False,
         {"group": 4, "strides": [2, 2]}),
        ("outshape", "ConvTranspose", (4, 2, 3, 3), False,
         {"strides": [2, 2], "output_shape": [10, 8]}),
        ("same_upper", "ConvTranspose", (4, 2, 3, 3), True,
         {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
        # Non-overlapping windows (kernel = strides): a 1x1 conv and
        # depth-to-space (nonOverlappingConvTranspose).
        ("blocks", "ConvTranspose", (4, 3, 2, 2), True, {"strides": [2, 2]}),
        ("blocks23", "ConvTranspose", (4, 2, 2, 3), False,
         {"strides": [2, 3]}),
        ("blocks_outshape", "ConvTranspose", (4, 2, 2, 2), True,
         {"strides": [2, 2], "output_shape": [10, 8]}),
    ]
    run_cases(cases, x, tmp_path, build_dir)


def test_max_pool(tmp_path, build_dir):
    x = np.random.default_rng(4).normal(size=(2, 3, 7, 8)).astype(np.float32)
    cases = [
        ("plain", "MaxPool", None, False, {"kernel_shape": [2, 2]}),
        ("strided", "MaxPool", None, False,
         {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
        ("ceil", "MaxPool", None, False,
         {"kernel_shape": [2, 3], "strides": [2, 2], "ceil_mode": 1}),
        ("ceil_pads", "MaxPool", None, False,
         {"kernel_shape": [3, 3], "strides": [3, 2], "pads": [1, 0, 1, 1],
          "ceil_mode": 1}),
        ("dilated", "MaxPool", None, False,
         {"kernel_shape": [2, 2], "dilations": [2, 3], "pads": [1, 1, 0, 0]}),
        ("same_upper", "MaxPool", None, False,
         {"kernel_shape": [3, 2], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
        ("same_lower", "MaxPool", None, False,
         {"kernel_shape": [3, 2], "strides": [2, 2], "auto_pad": "SAME_LOWER"}),
        ("valid", "MaxPool", None, False,
         {"kernel_shape": [3, 3], "auto_pad": "VALID", "strides": [2, 2]}),
    ]
    run_cases(cases, x, tmp_path, build_dir)


def test_max_pool_1d_3d_int8(tmp_path, build_dir):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1, 2, 6, 5, 4)).astype(np.float32)
    run_cases([
        ("p3", "MaxPool", None, False,
         {"kernel_shape": [2, 2, 2], "strides": [2, 1, 2],
          "pads": [1, 0, 0, 0, 1, 1]}),
    ], x, tmp_path / "a", build_dir)
    x1 = rng.normal(size=(2, 3, 9)).astype(np.float32)
    run_cases([
        ("p1", "MaxPool", None, False,
         {"kernel_shape": [3], "strides": [2], "pads": [1, 1]}),
    ], x1, tmp_path / "b", build_dir)
    # uint8 and int8 MaxPool (opset 12), cast back to float.
    xi = rng.integers(-100, 100, size=(1, 2, 5, 5)).astype(np.float32)
    nodes = [
        helper.make_node("Cast", ["x"], ["xi"], to=TensorProto.INT8),
        helper.make_node("MaxPool", ["xi"], ["pi"], kernel_shape=[2, 2],
                         pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Cast", ["pi"], ["yi"], to=F),
        helper.make_node("Abs", ["x"], ["ax"]),
        helper.make_node("Cast", ["ax"], ["xu"], to=TensorProto.UINT8),
        helper.make_node("MaxPool", ["xu"], ["pu"], kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Cast", ["pu"], ["yu"], to=F),
    ]
    model = make_model(nodes, [helper.make_tensor_value_info("x", F, [1, 2, 5, 5])],
                       [vi("yi"), vi("yu")])
    (tmp_path / "c").mkdir()
    ours, ref = run_quant_opt(model, {"x": xi}, tmp_path / "c", build_dir)
    check(ours, ref)


def test_average_pool(tmp_path, build_dir):
    x = np.random.default_rng(6).normal(size=(2, 3, 7, 8)).astype(np.float32)
    cases = [
        ("plain", "AveragePool", None, False, {"kernel_shape": [2, 2]}),
        ("pads", "AveragePool", None, False,
         {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
        ("pads_incl", "AveragePool", None, False,
         {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 2, 1, 0],
          "count_include_pad": 1}),
        ("ceil", "AveragePool", None, False,
         {"kernel_shape": [2, 3], "strides": [2, 2], "ceil_mode": 1}),
        ("ceil_pads", "AveragePool", None, False,
         {"kernel_shape": [3, 3], "strides": [3, 2], "pads": [1, 0, 1, 1],
          "ceil_mode": 1}),
        # The last window reaches past the pads: not counted even with
        # count_include_pad.
        ("ceil_incl", "AveragePool", None, False,
         {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 0, 0],
          "ceil_mode": 1, "count_include_pad": 1}),
        ("same_upper", "AveragePool", None, False,
         {"kernel_shape": [3, 2], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
        ("same_lower", "AveragePool", None, False,
         {"kernel_shape": [3, 3], "strides": [2, 3], "auto_pad": "SAME_LOWER"}),
    ]
    run_cases(cases, x, tmp_path, build_dir)


def test_average_pool_dilations_opset19(tmp_path, build_dir):
    x = np.random.default_rng(7).normal(size=(1, 2, 9, 8)).astype(np.float32)
    run_cases([
        ("dil", "AveragePool", None, False,
         {"kernel_shape": [2, 3], "dilations": [2, 2], "strides": [1, 2]}),
        ("dil_pads", "AveragePool", None, False,
         {"kernel_shape": [3, 2], "dilations": [2, 3], "pads": [2, 1, 2, 1],
          "count_include_pad": 1}),
    ], x, tmp_path, build_dir, opset=19)


def test_global_pools(tmp_path, build_dir):
    x = np.random.default_rng(8).normal(size=(2, 3, 5, 6)).astype(np.float32)
    run_cases([
        ("gap", "GlobalAveragePool", None, False, {}),
        ("gmp", "GlobalMaxPool", None, False, {}),
    ], x, tmp_path / "a", build_dir)
    x1 = np.random.default_rng(9).normal(size=(2, 4, 7)).astype(np.float32)
    run_cases([
        ("gap1", "GlobalAveragePool", None, False, {}),
        ("gmp1", "GlobalMaxPool", None, False, {}),
    ], x1, tmp_path / "b", build_dir)


def test_conv_net(tmp_path, build_dir):
    """A small CNN: Conv, Relu, MaxPool, depthwise Conv, GlobalAveragePool,
    Flatten-free Gemm via MatMul on the pooled features."""
    rng = np.random.default_rng(10)
    w1 = rng.normal(size=(8, 3, 3, 3)).astype(np.float32) * 0.3
    b1 = rng.normal(size=(8,)).astype(np.float32)
    w2 = rng.normal(size=(8, 1, 3, 3)).astype(np.float32) * 0.3
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1] * 4),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], group=8, pads=[1] * 4),
        helper.make_node("GlobalAveragePool", ["c2"], ["y"]),
    ]
    inits = [numpy_helper.from_array(w1, "w1"),
             numpy_helper.from_array(b1, "b1"),
             numpy_helper.from_array(w2, "w2")]
    model = make_model(nodes, [helper.make_tensor_value_info("x", F, ["N", 3, 8, 8])],
                       [vi("y")], inits)
    x = rng.normal(size=(3, 3, 8, 8)).astype(np.float32)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref)

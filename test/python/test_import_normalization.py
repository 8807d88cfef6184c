"""Normalization layers, Softmax and LogSoftmax imported and compiled by
quant-opt against onnxruntime."""

import numpy as np
import pytest
from onnx import helper, numpy_helper

from onnx_harness import check, make_model, run_quant_opt, vi


def init(rng, name, shape, low=-1.0, high=1.0):
    return numpy_helper.from_array(
        rng.uniform(low, high, size=shape).astype(np.float32), name)


@pytest.mark.parametrize("opset", [9, 15])
def test_batchnorm(tmp_path, build_dir, opset):
    rng = np.random.default_rng(opset)
    inits = [init(rng, "s", [3]), init(rng, "b", [3]), init(rng, "m", [3]),
             init(rng, "v", [3], 0.2, 2.0)]
    nodes = [
        helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"],
                         ["y"]),
        helper.make_node("BatchNormalization", ["x2", "s", "b", "m", "v"],
                         ["y2"], epsilon=0.1, momentum=0.5),
    ]
    if opset >= 14:
        nodes[0].attribute.append(helper.make_attribute("training_mode", 0))
    model = make_model(nodes, [vi("x", [2, 3, 4, 5]), vi("x2", [4, 3])],
                       [vi("y"), vi("y2")], inits, opset=opset)
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    x2 = rng.normal(size=(4, 3)).astype(np.float32)
    ours, ref = run_quant_opt(model, {"x": x, "x2": x2}, tmp_path, build_dir)
    check(ours, ref)


def test_layernorm(tmp_path, build_dir):
    rng = np.random.default_rng(1)
    inits = [init(rng, "s", [4]), init(rng, "b", [4]), init(rng, "s2", [3, 4]),
             init(rng, "b2", [1, 4])]
    nodes = [
        helper.make_node("LayerNormalization", ["x", "s", "b"], ["y"]),
        helper.make_node("LayerNormalization", ["x", "s2", "b2"],
                         ["y2", "mean2", "inv2"], axis=1, epsilon=1e-3),
        helper.make_node("LayerNormalization", ["x", "s"], ["y3", "mean3"],
                         axis=-1),
        # Scale broadcast from [1] over the last dim.
        helper.make_node("LayerNormalization", ["x", "one"], ["y4"], axis=0),
    ]
    inits.append(numpy_helper.from_array(np.array([1.5], np.float32), "one"))
    model = make_model(nodes, [vi("x", [2, 3, 4])],
                       [vi(n) for n in ("y", "y2", "mean2", "inv2", "y3",
                                         "mean3", "y4")], inits)
    x = (rng.normal(size=(2, 3, 4)) * 3 + 1).astype(np.float32)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref)


def test_instancenorm(tmp_path, build_dir):
    rng = np.random.default_rng(2)
    inits = [init(rng, "s", [3]), init(rng, "b", [3])]
    nodes = [
        helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"]),
        helper.make_node("InstanceNormalization", ["x3", "s", "b"], ["y3"],
                         epsilon=0.01),
    ]
    model = make_model(nodes, [vi("x", [2, 3, 4, 5]), vi("x3", [2, 3, 6])],
                       [vi("y"), vi("y3")], inits)
    x = (rng.normal(size=(2, 3, 4, 5)) * 2).astype(np.float32)
    x3 = rng.normal(size=(2, 3, 6)).astype(np.float32)
    ours, ref = run_quant_opt(model, {"x": x, "x3": x3}, tmp_path, build_dir)
    check(ours, ref)


@pytest.mark.parametrize("opset", [18, 21])
def test_groupnorm(tmp_path, build_dir, opset):
    rng = np.random.default_rng(opset)
    shape = [2, 6, 3, 2]
    nodes, inits, outs = [], [], []
    for k, groups in enumerate([2, 3, 6, 1]):
        n = 6 if opset >= 21 else groups
        inits += [init(rng, f"s{k}", [n]), init(rng, f"b{k}", [n])]
        nodes.append(helper.make_node("GroupNormalization",
                                      ["x", f"s{k}", f"b{k}"], [f"y{k}"],
                                      num_groups=groups,
                                      epsilon=1e-5 if k else 1e-2))
        outs.append(vi(f"y{k}"))
    model = make_model(nodes, [vi("x", shape)], outs, inits, opset=opset)
    x = rng.normal(size=shape).astype(np.float32)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref)


def test_rmsnorm(tmp_path, build_dir):
    rng = np.random.default_rng(3)
    inits = [init(rng, "s", [4]), init(rng, "s2", [3, 4])]
    nodes = [
        helper.make_node("RMSNormalization", ["x", "s"], ["y"]),
        helper.make_node("RMSNormalization", ["x", "s2"], ["y2"], axis=1,
                         epsilon=1e-2),
    ]
    model = make_model(nodes, [vi("x", [2, 3, 4])], [vi("y"), vi("y2")],
                       inits, opset=23)
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref)


@pytest.mark.parametrize("opset", [11, 13])
def test_softmax(tmp_path, build_dir, opset):
    rng = np.random.default_rng(opset)
    nodes, outs = [], []
    for op in ("Softmax", "LogSoftmax"):
        for k, axis in enumerate([None, 0, 1, -1, 2]):
            attrs = {} if axis is None else {"axis": axis}
            name = f"{op.lower()}_{k}"
            nodes.append(helper.make_node(op, ["x"], [name], **attrs))
            outs.append(vi(name))
    model = make_model(nodes, [vi("x", [2, 3, 4])], outs, opset=opset)
    # Large values: without subtracting the max, exp would overflow.
    x = (rng.normal(size=(2, 3, 4)) * 40 + 60).astype(np.float32)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref, rtol=1e-4, atol=1e-6)

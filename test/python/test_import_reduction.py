"""Reductions, ArgMax/ArgMin, CumSum and TopK imported and compiled by
quant-opt against onnxruntime. Integer outputs (indices) are cast to float
inside the models, since the harness compares float32 outputs."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx_harness import check, make_model, run_quant_opt, vi

F = TensorProto.FLOAT
I64 = TensorProto.INT64


REDUCE_OPS = ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin",
              "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare",
              "ReduceLogSumExp"]

# (axes, keepdims, noop_with_empty_axes); None: no axes.
SETTINGS = [([1], 1, 0), ([0, -1], 0, 0), (None, 1, 0), (None, 0, 0),
            ([2], 0, 0), (None, 1, 1)]


def _reduce_nodes(opset):
    """One node per (op, setting); axes as attribute or as input."""
    axes_input = {op: (opset >= 13 if op == "ReduceSum" else opset >= 18)
                  for op in REDUCE_OPS}
    # The reductions read Neg(x): a noop reduction returns its input, and
    # the CPU pipeline cannot yet return a function argument as a result
    # (it leaves a bufferization.clone behind).
    nodes, outs, inits = [helper.make_node("Neg", ["x"], ["xn"])], [], []
    for op in REDUCE_OPS:
        for k, (axes, keep, noop) in enumerate(SETTINGS):
            if noop and not axes_input[op]:
                continue
            name = f"{op.lower()}_{k}"
            attrs = {"keepdims": keep}
            ins = ["x"]
            if noop:
                attrs["noop_with_empty_axes"] = 1
            if axes is not None:
                if axes_input[op]:
                    init = f"axes_{name}"
                    inits.append(numpy_helper.from_array(
                        np.array(axes, np.int64), init))
                    ins.append(init)
                else:
                    attrs["axes"] = axes
            nodes.append(helper.make_node(op, ["xn"] + ins[1:], [name],
                                          **attrs))
            outs.append(helper.make_tensor_value_info(name, F, None))
    return nodes, outs, inits


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_reductions(tmp_path, build_dir, opset):
    rng = np.random.default_rng(opset)
    x = rng.uniform(-1.5, 1.5, size=(2, 3, 4)).astype(np.float32)
    nodes, outs, inits = _reduce_nodes(opset)
    model = make_model(nodes, [vi("x", [2, 3, 4])], outs, inits, opset=opset)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref)


def test_int_reductions(tmp_path, build_dir):
    rng = np.random.default_rng(3)
    x = rng.integers(-5, 6, size=(3, 4)).astype(np.float32)
    nodes = [helper.make_node("Cast", ["x"], ["xi"], to=TensorProto.INT32)]
    outs = []
    for op in ["ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
               "ReduceL1", "ReduceSumSquare", "ReduceMean"]:
        name = op.lower()
        nodes += [helper.make_node(op, ["xi"], [name + "_i"], axes=[1],
                                   keepdims=0),
                  helper.make_node("Cast", [name + "_i"], [name], to=F)]
        outs.append(vi(name, [3]))
    model = make_model(nodes, [vi("x", [3, 4])], outs, opset=11)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref)


def test_argmax_argmin(tmp_path, build_dir):
    x = np.array([[[1, 3, 3, 0], [2, 2, -1, 5], [0, 3, 3, -4]],
                  [[4, 4, 1, 4], [-2, 0, 0, -2], [7, 1, 7, 1]]], np.float32)
    nodes, outs = [], []
    cases = [("ArgMax", 1, 1, 0), ("ArgMax", -1, 0, 0), ("ArgMax", 2, 1, 1),
             ("ArgMin", 0, 0, 0), ("ArgMin", -1, 1, 1), ("ArgMin", 1, 0, 1)]
    for k, (op, axis, keep, last) in enumerate(cases):
        name = f"{op.lower()}_{k}"
        nodes += [helper.make_node(op, ["x"], [name + "_i"], axis=axis,
                                   keepdims=keep, select_last_index=last),
                  helper.make_node("Cast", [name + "_i"], [name], to=F)]
        outs.append(helper.make_tensor_value_info(name, F, None))
    model = make_model(nodes, [vi("x", [2, 3, 4])], outs, opset=13)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref)


def test_cumsum(tmp_path, build_dir):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    nodes, outs, inits = [], [], []
    for k, (axis, excl, rev) in enumerate([(0, 0, 0), (1, 1, 0), (-1, 0, 1),
                                           (2, 1, 1)]):
        inits.append(numpy_helper.from_array(np.array(axis, np.int64),
                                             f"axis{k}"))
        nodes.append(helper.make_node("CumSum", ["x", f"axis{k}"], [f"c{k}"],
                                      exclusive=excl, reverse=rev))
        outs.append(vi(f"c{k}", [2, 3, 4]))
    # An int32 scan with an int32 axis.
    inits.append(numpy_helper.from_array(np.array([1], np.int32), "axis_i"))
    nodes += [helper.make_node("Cast", ["x"], ["xi"], to=TensorProto.INT32),
              helper.make_node("CumSum", ["xi", "axis_i"], ["ci"]),
              helper.make_node("Cast", ["ci"], ["c_int"], to=F)]
    outs.append(vi("c_int", [2, 3, 4]))
    model = make_model(nodes, [vi("x", [2, 3, 4])], outs, inits, opset=14)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref)


def test_topk(tmp_path, build_dir):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 5, 4)).astype(np.float32)
    x[0, :, 0] = [1, 2, 2, 0, 2]  # ties: the lower index comes first
    nodes, outs, inits = [], [], []
    for k, (kk, axis, largest) in enumerate([(2, -1, 1), (3, 1, 0), (1, 0, 1),
                                             (5, 1, 1)]):
        inits.append(numpy_helper.from_array(np.array([kk], np.int64),
                                             f"k{k}"))
        nodes += [helper.make_node("TopK", ["x", f"k{k}"],
                                   [f"v{k}", f"i{k}_i"], axis=axis,
                                   largest=largest, sorted=1),
                  helper.make_node("Cast", [f"i{k}_i"], [f"i{k}"], to=F)]
        outs += [helper.make_tensor_value_info(f"v{k}", F, None),
                 helper.make_tensor_value_info(f"i{k}", F, None)]
    model = make_model(nodes, [vi("x", [3, 5, 4])], outs, inits, opset=11)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref)


def test_topk_opset10_unsorted(tmp_path, build_dir):
    """Opset 10 (K as input, no largest/sorted); opset 11 sorted = 0 leaves
    the order free, so that result is compared as a set."""
    rng = np.random.default_rng(6)
    x = rng.permutation(24).reshape(4, 6).astype(np.float32)
    k = numpy_helper.from_array(np.array([3], np.int64), "k")

    def model(opset, **attrs):
        nodes = [helper.make_node("TopK", ["x", "k"], ["v", "i"], **attrs),
                 helper.make_node("Cast", ["i"], ["fi"], to=F)]
        return make_model(nodes, [vi("x", [4, 6])],
                          [vi("v", [4, 3]), vi("fi", [4, 3])], [k],
                          opset=opset)

    ours, ref = run_quant_opt(model(10), {"x": x}, tmp_path, build_dir)
    check(ours, ref)
    ours, ref = run_quant_opt(model(11, sorted=0, largest=0), {"x": x},
                              tmp_path, build_dir)
    order, ref_order = np.argsort(ours["v"], -1), np.argsort(ref["v"], -1)
    for name in ("v", "fi"):
        np.testing.assert_allclose(
            np.take_along_axis(ours[name], order, -1),
            np.take_along_axis(ref[name], ref_order, -1), err_msg=name)

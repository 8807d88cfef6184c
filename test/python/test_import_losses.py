"""NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss imported and
compiled by quant-opt against onnxruntime: every reduction, with and without
class weights and ignore_index (targets hitting it included), [N, C] and
[N, C, d1, d2] scores, and SoftmaxCrossEntropyLoss's log_prob output."""

import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx_harness import check, make_model, run_quant_opt, vi

I64 = TensorProto.INT64


def _inputs(shape, seed, ignore_index):
    rng = np.random.default_rng(seed)
    n, c = shape[0], shape[1]
    x = rng.uniform(-3.0, 3.0, size=shape).astype(np.float32)
    t = rng.integers(0, c, size=(n, *shape[2:])).astype(np.int64)
    if ignore_index is not None:
        # A quarter of the targets are ignored.
        mask = rng.uniform(size=t.shape) < 0.25
        t[mask] = ignore_index
    return x, t


@pytest.mark.parametrize("op", ["NegativeLogLikelihoodLoss",
                                "SoftmaxCrossEntropyLoss"])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4, 2)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [None, 1, -1])
def test_losses(tmp_path, build_dir, op, shape, weighted, ignore_index):
    x, t = _inputs(shape, hash((op, shape, weighted)) % 1000, ignore_index)
    c = shape[1]
    inits = []
    ins = ["x", "t"]
    if weighted:
        w = np.linspace(0.5, 2.0, c).astype(np.float32)
        inits.append(numpy_helper.from_array(w, "w"))
        ins.append("w")
    attrs = {}
    if ignore_index is not None:
        attrs["ignore_index"] = ignore_index
    nodes, outs = [], []
    for red in ["none", "sum", "mean"]:
        names = [f"loss_{red}"]
        if op == "SoftmaxCrossEntropyLoss" and red == "mean":
            names.append("log_prob")
        nodes.append(helper.make_node(op, ins, names, reduction=red, **attrs))
        outs += [vi(nm) for nm in names]
    model = make_model(nodes, [vi("x", list(shape)),
                               vi("t", list(t.shape), I64)], outs, inits,
                       opset=13)
    ours, ref = run_quant_opt(model, {"x": x, "t": t}, tmp_path, build_dir)
    check(ours, ref, rtol=1e-5, atol=1e-5, check_shapes=True)


def test_nll_all_targets_ignored_matches_onnxruntime(tmp_path, build_dir):
    # 'mean' over no counted sample: 0 / 0.
    x, t = _inputs((3, 4), 5, None)
    t[:] = 2
    nodes = [helper.make_node("NegativeLogLikelihoodLoss", ["x", "t"],
                              [f"loss_{r}"], reduction=r, ignore_index=2)
             for r in ["none", "sum", "mean"]]
    model = make_model(nodes, [vi("x", [3, 4]), vi("t", [3], I64)],
                       [vi(f"loss_{r}") for r in ["none", "sum", "mean"]],
                       opset=13)
    ours, ref = run_quant_opt(model, {"x": x, "t": t}, tmp_path, build_dir)
    np.testing.assert_array_equal(ours["loss_none"], ref["loss_none"])
    np.testing.assert_array_equal(ours["loss_sum"], ref["loss_sum"])
    assert np.isnan(ours["loss_mean"]) == np.isnan(ref["loss_mean"]), \
        (ours["loss_mean"], ref["loss_mean"])


def test_target_out_of_range_is_a_run_time_error(tmp_path, build_dir):
    # onnxruntime refuses such a target as well; ignore_index is exempt.
    nodes = [helper.make_node("NegativeLogLikelihoodLoss", ["x", "t"], ["y"],
                              name="nll", ignore_index=-7)]
    model = make_model(nodes, [vi("x", [3, 4]), vi("t", [3], I64)],
                       [vi("y")], opset=13)
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    so = tmp_path / "model.so"
    res = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                          str(path), "-o", str(so)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    x = np.zeros((3, 4), np.float32)

    def run(t):
        args = [os.path.join(build_dir, "bin", "quant-run"), str(so)]
        for name, arr in {"x": x, "t": t}.items():
            np.save(tmp_path / f"{name}.npy", arr)
            args += ["--input", f"{name}={tmp_path / (name + '.npy')}"]
        return subprocess.run(args, capture_output=True, text=True)

    assert run(np.array([0, -7, 3], np.int64)).returncode == 0
    for bad in ([0, 4, 1], [0, -1, 1]):
        res = run(np.array(bad, np.int64))
        assert res.returncode != 0
        assert ("NegativeLogLikelihoodLoss node 'nll': target (input #1) "
                "holds a class index outside [0, C)") in res.stderr, res.stderr


def test_dynamic_batch(tmp_path, build_dir):
    # Symbolic N and d1: the importer keeps them dynamic (run-time checks of
    # the target's dims against the scores').
    x, t = _inputs((4, 5, 3), 9, 2)
    w = numpy_helper.from_array(np.linspace(1, 2, 5).astype(np.float32), "w")
    nodes = [helper.make_node("SoftmaxCrossEntropyLoss", ["x", "t", "w"],
                              ["loss", "log_prob"], ignore_index=2),
             helper.make_node("NegativeLogLikelihoodLoss", ["x", "t"],
                              ["nll"], reduction="none")]
    model = make_model(nodes, [vi("x", ["N", 5, "D"]),
                               vi("t", ["N", "D"], I64)],
                       [vi("loss"), vi("log_prob"), vi("nll")], [w],
                       opset=13)
    ours, ref = run_quant_opt(model, {"x": x, "t": t}, tmp_path, build_dir,
                              pin_shapes=False)
    check(ours, ref, rtol=1e-5, atol=1e-5, check_shapes=True)

"""The ONNX backend conformance runner (test/conformance/run_conformance.py):
the CI subset (test/conformance/subset.txt) with our tools, and fast checks
of the runner itself with its onnxruntime backend."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONF = os.path.join(ROOT, "test", "conformance")
RUNNER = os.path.join(CONF, "run_conformance.py")
SUBSET = os.path.join(CONF, "subset.txt")
sys.path.insert(0, CONF)

import run_conformance as rc  # noqa: E402

# The runner tests need no build of ours; quant-translate, when built, only
# fills all_ops_listed.
BUILD = os.environ.get("QOPT_BUILD_DIR", os.path.join(ROOT, "build"))
PASS_RATE = 0.90


def run_runner(tmp_path, *args, timeout=900):
    out = os.path.join(str(tmp_path), "conformance.json")
    cmd = [sys.executable, RUNNER, "--output", out,
           "--work-dir", os.path.join(str(tmp_path), "work"), *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stdout}\n{r.stderr}"
    with open(out) as f:
        return json.load(f), r.stdout


def describe(tests):
    return "\n".join(f"  {t['id']}: {t['status']}: "
                     f"{t['message']}" for t in tests)


def test_conformance_subset(build_dir, tmp_path):
    for tool in ("quant-compile", "quant-run"):
        if not os.access(os.path.join(build_dir, "bin", tool), os.X_OK):
            pytest.fail(f"{tool} is not built in {build_dir}/bin")
    data, stdout = run_runner(tmp_path, "--build-dir", build_dir,
                              "--subset-file", SUBSET, "--jobs", "2",
                              "--timeout-per-test", "60")
    print(stdout)
    wanted = rc.read_subset_file(SUBSET)
    missing = [w for w in wanted if not any(
        rc.spec_matches(w, t["name"], t["suite"], t["source"].split("-")[0],
                        "@" in t["id"]) and t["status"]
        for t in data["tests"])]
    assert not missing, f"no result for {missing}"
    assert not data["missing"], data["missing"]
    listed = [t for t in data["tests"] if t["all_ops_listed"]]
    assert listed, "no subset test has all its ops in the importer's list"
    bad = [t for t in listed if t["status"] != "pass"]
    rate = 1 - len(bad) / len(listed)
    assert rate >= PASS_RATE, (
        f"pass rate {rate:.1%} < {PASS_RATE:.0%} over the {len(listed)} "
        f"all-ops-listed subset tests; not passing:\n{describe(bad)}")
    # The subset's tests with parameters fed as graph inputs pass by
    # freezing them (docs/Conformance.md, "Frozen inputs").
    assert data["summary"]["overall"]["pass_with_frozen_inputs"] > 0, (
        "no subset test passed with frozen inputs:\n" + describe(
            [t for t in data["tests"] if t["frozen_inputs"]]))


SELF_CHECK = ["test_abs", "test_gemm_all_attributes",
              "test_basic_conv_with_padding", "test_expand_shape_model1",
              "test_operator_maxpool"]


def test_runner_onnxruntime_self_check(tmp_path):
    """onnxruntime run through the runner: data loading, shape pinning, the
    .npy round trip of outputs and the comparison must all agree."""
    rx = "^(" + "|".join(SELF_CHECK) + ")$"
    data, _ = run_runner(tmp_path, "--build-dir", BUILD,
                         "--backend=onnxruntime", "--jobs", "1",
                         "--filter", rx)
    tests = data["tests"]
    assert sorted(t["name"] for t in tests) == sorted(SELF_CHECK)
    assert {t["suite"] for t in tests} >= {"node", "simple",
                                           "pytorch-operator"}
    bad = [t for t in tests if t["status"] != "pass"]
    assert not bad, describe(bad)
    assert data["summary"]["overall"]["pass"] == len(SELF_CHECK)
    for t in tests:
        assert t["ops"] and t["seconds"] >= 0 and t["source"]
        assert t["max_error"] is not None and t["max_error"] <= 1e-3


def _find(name, suite="node"):
    args = rc.parse_args(["--build-dir", BUILD, "--suites", suite])
    for t in rc.discover([suite], args)[0]:
        if t.name == name:
            return t.dir
    pytest.fail(f"no {suite} test {name}")


def test_runner_detects_a_wrong_output(tmp_path):
    """A copy of test_abs whose expected output is off by 0.25 in one
    element must fail, naming the output and data set, with that error."""
    data_root = tmp_path / "data" / "node"
    data_root.mkdir(parents=True)
    src = _find("test_abs")
    shutil.copytree(src, data_root / "test_abs")
    wrong = data_root / "test_abs_wrong_output"
    shutil.copytree(src, wrong)
    pb = wrong / "test_data_set_0" / "output_0.pb"
    t = onnx.TensorProto()
    t.ParseFromString(pb.read_bytes())
    arr = numpy_helper.to_array(t).copy()
    arr.flat[3] += np.float32(0.25)
    pb.write_bytes(numpy_helper.from_array(arr, t.name).SerializeToString())

    data, _ = run_runner(tmp_path, "--build-dir", BUILD,
                         "--backend=onnxruntime", "--jobs", "1",
                         "--suites", "node", "--no-generate",
                         "--onnx-data", str(tmp_path / "data"),
                         "--debian-data", str(tmp_path / "none"))
    by = {t["name"]: t for t in data["tests"]}
    assert set(by) == {"test_abs", "test_abs_wrong_output"}
    assert by["test_abs"]["status"] == "pass", by["test_abs"]
    w = by["test_abs_wrong_output"]
    assert w["status"] == "fail", w
    assert w["max_error"] == pytest.approx(0.25, abs=1e-5), w
    assert w["data_set"] == "test_data_set_0" and w["output"] == "y", w
    assert "1 of 60 elements differ" in w["message"], w
    assert data["summary"]["node"]["fail"] == 1


def test_compare_rules():
    """onnx.backend.test's rules: rtol/atol, NaN positions, shape, dtype."""
    f = np.array([1.0, np.nan, np.inf], np.float32)
    ok, err, _ = rc.compare(f, f.copy(), 1e-3, 1e-7)
    assert ok and err == 0.0
    ok, _, why = rc.compare(f, np.array([1.0, 2.0, np.inf], np.float32),
                            1e-3, 1e-7)
    assert not ok and "NaN" in why
    ok, err, _ = rc.compare(np.float32([1000.0]), np.float32([1000.5]),
                            1e-3, 1e-7)
    assert ok and err == pytest.approx(0.5)
    ok, _, why = rc.compare(np.zeros(3, np.float32), np.zeros(3, np.float64),
                            1e-3, 1e-7)
    assert not ok and "dtype" in why
    ok, _, why = rc.compare(np.zeros((2, 3), np.float32),
                            np.zeros((3, 2), np.float32), 1e-3, 1e-7)
    assert not ok and "shape" in why
    ok, err, _ = rc.compare(np.int64([5, 7]), np.int64([5, 8]), 1e-3, 1e-7)
    assert not ok and err == 1.0
    ok, _, _ = rc.compare([np.float32([1])], [np.float32([1])], 1e-3, 1e-7)
    assert ok


# --------------------------------------------------------------------------
# Parameters fed as graph inputs: which graph input a compile error demands
# constant, the freeze-and-retry loop, and the real --freeze-input.

from onnx import TensorProto, helper  # noqa: E402


def _model(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def _err(op, node, opset, rest):
    # As quant-compile's first error line says it.
    return f"/x/model.onnx:0:0: error: {op} node '{node}' (opset {opset}): {rest}"


def _reduce_sum_model(axes_init=None, axes_computed=False, opset=13):
    x, y = _vi("x", TensorProto.FLOAT, [2, 3]), _vi("y", TensorProto.FLOAT, None)
    nodes, inputs, inits = [], [x], []
    axes = "axes"
    if axes_init is not None:
        inits.append(numpy_helper.from_array(np.int64(axes_init), "axes"))
        inputs.append(_vi("axes", TensorProto.INT64, [len(axes_init)]))
    else:
        inputs.append(_vi("axes", TensorProto.INT64, [1]))
    if axes_computed:
        nodes.append(helper.make_node("Identity", ["axes"], ["axes2"]))
        axes = "axes2"
    nodes.append(helper.make_node("ReduceSum", ["x", axes], ["y"]))
    return _model(nodes, inputs, [y], inits, opset)


def test_demanded_input_mapping():
    """Message -> node (by name, or '<OpType>_<index>' when unnamed) ->
    input (by '(input #N)' or the schema name) -> graph input, only when
    the node input is directly a non-initializer graph input."""
    axes_msg = "axes (input #1) must be a constant integer tensor"
    # Unnamed node 0: 'ReduceSum_0'; axes is a graph input.
    m = _reduce_sum_model()
    assert rc.demanded_input(m, _err("ReduceSum", "ReduceSum_0", 13,
                                     axes_msg)) == "axes"
    # Behind an Identity (node 1): computed, never frozen.
    m = _reduce_sum_model(axes_computed=True)
    assert rc.demanded_input(m, _err("ReduceSum", "ReduceSum_1", 13,
                                     axes_msg)) is None
    # The wrong index or op type names no node.
    assert rc.demanded_input(m, _err("ReduceSum", "ReduceSum_0", 13,
                                     axes_msg)) is None
    # An initializer that is also listed as a graph input: not a feed.
    m = _reduce_sum_model(axes_init=[1])
    assert rc.demanded_input(m, _err("ReduceSum", "ReduceSum_0", 13,
                                     axes_msg)) is None
    # Unrelated errors.
    m = _reduce_sum_model()
    assert rc.demanded_input(m, "error: ai.onnx opset 25 is not supported "
                             "(1 to 23)") is None
    assert rc.demanded_input(m, _err("ReduceSum", "ReduceSum_0", 13,
                                     "keepdims must be 0 or 1")) is None

    # Range, a named node; start and limit fed, delta an initializer. The
    # message names the input by its schema name.
    s = [_vi(n, TensorProto.FLOAT, []) for n in ("s", "l")]
    m = _model([helper.make_node("Range", ["s", "l", "d"], ["y"], name="rng")],
               s, [_vi("y", TensorProto.FLOAT, None)],
               [numpy_helper.from_array(np.float32(1), "d")], opset=11)
    why = " must be a constant; a Range of data-dependent size is not supported"
    assert rc.demanded_input(m, _err("Range", "rng", 11, "start" + why)) == "s"
    assert rc.demanded_input(m, _err("Range", "rng", 11, "limit" + why)) == "l"
    assert rc.demanded_input(m, _err("Range", "rng", 11, "delta" + why)) is None
    assert rc.demanded_input(m, _err("Range", "Range_0", 11,
                                     "start" + why)) is None

    # Schema names by their last part: QuantizeLinear's 'scale' is y_scale,
    # 'zero point' y_zero_point; Dropout's training_mode; Resize's scales.
    m = _model([helper.make_node("QuantizeLinear", ["x", "sc", "zp"], ["y"])],
               [_vi("x", TensorProto.FLOAT, [4]), _vi("sc", TensorProto.FLOAT, []),
                _vi("zp", TensorProto.UINT8, [])],
               [_vi("y", TensorProto.UINT8, [4])], opset=19)
    assert rc.demanded_input(m, _err(
        "QuantizeLinear", "QuantizeLinear_0", 19,
        "scale must be a constant (initializer or Constant)")) == "sc"
    assert rc.demanded_input(m, _err("QuantizeLinear", "QuantizeLinear_0", 19,
                                     "zero point must be a constant")) == "zp"
    m = _model([helper.make_node("Dropout", ["x", "r", "t"], ["y"])],
               [_vi("x", TensorProto.FLOAT, [4]), _vi("r", TensorProto.FLOAT, []),
                _vi("t", TensorProto.BOOL, [])],
               [_vi("y", TensorProto.FLOAT, [4])])
    assert rc.demanded_input(m, _err("Dropout", "Dropout_0", 13,
                                     "training_mode must be a constant")) == "t"
    m = _model([helper.make_node("Resize", ["x", "", "sc"], ["y"],
                                 mode="nearest")],
               [_vi("x", TensorProto.FLOAT, [1, 1, 2, 2]),
                _vi("sc", TensorProto.FLOAT, [4])],
               [_vi("y", TensorProto.FLOAT, None)], opset=19)
    assert rc.demanded_input(m, _err("Resize", "Resize_0", 19,
                                     "scales must be a constant float "
                                     "tensor")) == "sc"
    assert rc.demanded_input(m, _err("Resize", "Resize_0", 19,
                                     "roi must be a constant")) is None
    # The data input itself ("the input must be a constant") never.
    m = _model([helper.make_node("NonZero", ["x"], ["y"])],
               [_vi("x", TensorProto.FLOAT, [4])],
               [_vi("y", TensorProto.INT64, None)])
    assert rc.demanded_input(m, _err(
        "NonZero", "NonZero_0", 13, "the input must be a constant: the "
        "output shape is data-dependent")) is None


class _FakeImporter(rc.OnnxruntimeBackend):
    """onnxruntime, but compile() rejects the model like our importer when a
    parameter input (ReduceSum axes, Range start/limit/delta) is not a
    constant; records what each compile froze."""

    PARAMS = {"ReduceSum": {1: "axes (input #1) must be a constant integer "
                                "tensor"},
              "Range": {k: f"{w} must be a constant; a Range of "
                        "data-dependent size is not supported"
                        for k, w in enumerate(("start", "limit", "delta"))}}

    def __init__(self, can_freeze=True):
        super().__init__(BUILD, 60)
        self.can_freeze = can_freeze
        self.compiles = []

    def compile(self, model_path, out_dir, pins, frozen=None):
        frozen = dict(frozen or {})
        self.compiles.append((sorted(frozen), dict(pins)))
        model = onnx.load(model_path)
        consts = ({t.name for t in model.graph.initializer} | set(frozen))
        for i, node in enumerate(model.graph.node):
            for k, msg in self.PARAMS.get(node.op_type, {}).items():
                if node.input[k] not in consts:
                    raise rc.CompileError(_err(
                        node.op_type, node.name or f"{node.op_type}_{i}",
                        13, msg))
        assert not set(frozen) & set(pins), "a frozen input was pinned"
        return super().compile(model_path, out_dir, pins, frozen)


def _write_test(root, name, model, data_sets):
    d = root / name
    d.mkdir(parents=True)
    onnx.save(model, str(d / "model.onnx"))
    for i, (ins, outs) in enumerate(data_sets):
        ds = d / f"test_data_set_{i}"
        ds.mkdir()
        for j, v in enumerate(ins):
            (ds / f"input_{j}.pb").write_bytes(
                numpy_helper.from_array(v).SerializeToString())
        for j, v in enumerate(outs):
            (ds / f"output_{j}.pb").write_bytes(
                numpy_helper.from_array(v).SerializeToString())
    return rc.Test(name, "node", "fake", str(d))


def _reduce_sum_case(x, axes):
    return [x, np.int64(axes)], [x.sum(axis=tuple(axes), keepdims=True)]


def test_runner_freezes_demanded_inputs(tmp_path):
    """The retry loop with a fake importer: the demanded inputs are frozen
    (and not fed to run), one compile per distinct frozen value, recorded
    in frozen_inputs and pass_with_frozen_inputs."""
    work = tmp_path / "work"
    work.mkdir()
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    results = []

    # ReduceSum, axes fed; two data sets with the same axes: one compile
    # after freezing.
    t = _write_test(tmp_path, "test_rs_same", _reduce_sum_model(),
                    [_reduce_sum_case(x, [1]), _reduce_sum_case(x + 1, [1])])
    be = _FakeImporter()
    r = rc.run_test(t, be, None, str(work), False)
    assert r["status"] == "pass", r
    assert r["frozen_inputs"] == ["axes"], r
    assert be.compiles == [([], {"x": [2, 3], "axes": [1]}),
                           (["axes"], {"x": [2, 3]})], be.compiles
    results.append(r)

    # Different axes per data set: a compile per data set.
    t = _write_test(tmp_path, "test_rs_differ", _reduce_sum_model(),
                    [_reduce_sum_case(x, [1]), _reduce_sum_case(x, [0])])
    be = _FakeImporter()
    r = rc.run_test(t, be, None, str(work), False)
    assert r["status"] == "pass", r
    assert r["frozen_inputs"] == ["axes"]
    assert [c[0] for c in be.compiles] == [[], ["axes"], ["axes"]]
    results.append(r)

    # Range with all three fed: three rounds, one input more each.
    m = _model([helper.make_node("Range", ["s", "l", "d"], ["y"])],
               [_vi(n, TensorProto.FLOAT, []) for n in ("s", "l", "d")],
               [_vi("y", TensorProto.FLOAT, None)], opset=11)
    t = _write_test(tmp_path, "test_range_fed", m,
                    [([np.float32(1), np.float32(5), np.float32(1.5)],
                      [np.arange(1, 5, 1.5, dtype=np.float32)])])
    be = _FakeImporter()
    r = rc.run_test(t, be, None, str(work), False)
    assert r["status"] == "pass", r
    assert r["frozen_inputs"] == ["s", "l", "d"]
    assert [c[0] for c in be.compiles] == [[], ["s"], ["l", "s"],
                                           ["d", "l", "s"]]
    results.append(r)

    # axes computed from the graph input: never frozen; unsupported.
    t = _write_test(tmp_path, "test_rs_computed",
                    _reduce_sum_model(axes_computed=True),
                    [_reduce_sum_case(x, [1])])
    be = _FakeImporter()
    r = rc.run_test(t, be, None, str(work), False)
    assert r["status"] == "unsupported" and r["frozen_inputs"] == [], r
    assert "axes (input #1) must be a constant" in r["message"]
    assert len(be.compiles) == 1
    results.append(r)

    # A backend that cannot freeze: no retry.
    t = _write_test(tmp_path, "test_rs_nofreeze", _reduce_sum_model(),
                    [_reduce_sum_case(x, [1])])
    be = _FakeImporter(can_freeze=False)
    r = rc.run_test(t, be, None, str(work), False)
    assert r["status"] == "unsupported" and r["frozen_inputs"] == [], r
    assert len(be.compiles) == 1
    results.append(r)

    # A plain pass, no freezing.
    m = _model([helper.make_node("Relu", ["x"], ["y"])],
               [_vi("x", TensorProto.FLOAT, [2, 3])],
               [_vi("y", TensorProto.FLOAT, [2, 3])])
    t = _write_test(tmp_path, "test_relu", m, [([x - 2], [np.maximum(x - 2, 0)])])
    r = rc.run_test(t, _FakeImporter(), None, str(work), False)
    assert r["status"] == "pass" and r["frozen_inputs"] == [], r
    results.append(r)

    for r in results:
        r["all_ops_listed"] = True
    s = rc.summarize(results, ["node"])["node"]
    assert (s["total"], s["pass"], s["pass_with_frozen_inputs"],
            s["unsupported"]) == (6, 4, 3, 2), s
    assert s["listed"]["pass_with_frozen_inputs"] == 3
    assert "4 pass (3 with frozen inputs)" in rc.summary_line("node", s)
    assert rc.operator_stats(results)["ReduceSum"][
        "pass_with_frozen_inputs"] == 2


def test_freeze_input_end_to_end(build_dir, tmp_path):
    """quant-compile --freeze-input through the runner: ReduceSum with its
    axes fed as a graph input compiles once axes is frozen, and matches
    numpy."""
    be = rc.OursBackend(build_dir, 60)
    problem = be.check()
    if problem:
        pytest.fail(problem)
    if not be.can_freeze:
        pytest.fail(f"{be.compiler} has no --freeze-input")
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    m = _reduce_sum_model(opset=13)
    m.graph.input[0].CopyFrom(_vi("x", TensorProto.FLOAT, [3, 4, 5]))
    t = _write_test(tmp_path, "test_reduce_sum_axes_fed", m,
                    [([x, np.int64([1])],
                      [x.sum(axis=1, keepdims=True)]),
                     ([x, np.int64([-1])],
                      [x.sum(axis=-1, keepdims=True)])])
    work = tmp_path / "work"
    work.mkdir()
    r = rc.run_test(t, be, None, str(work), False)
    assert r["status"] == "pass", r
    assert r["frozen_inputs"] == ["axes"], r
    assert r["max_error"] <= 1e-4

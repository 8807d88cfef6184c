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

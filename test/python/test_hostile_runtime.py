"""Hostile inputs at run time and in calibration (issue 23): each case
either gives the answer onnxruntime gives or a clear error with a non-zero
exit, never a crash, a hang or a silently wrong result."""

import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper


def save_model(tmp_path, nodes, inputs, outputs, inits=(), name="m.onnx"):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    model = helper.make_model(graph, ir_version=8,
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    path = os.path.join(str(tmp_path), name)
    onnx.save(model, path)
    return path


def compile_model(build_dir, model, tmp_path, *extra):
    so = os.path.join(str(tmp_path), "m.so")
    r = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"), model,
                        "-o", so, *extra], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return so, r


def run(build_dir, so, inputs, out_dir, *extra):
    os.makedirs(out_dir, exist_ok=True)
    args = [os.path.join(build_dir, "bin", "quant-run"), so, "--output-dir",
            out_dir, *extra]
    for name, arr in inputs.items():
        p = os.path.join(out_dir, f"in_{name}.npy")
        np.save(p, arr)
        args += ["--input", f"{name}={p}"]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def ort_run(model, inputs):
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return sess.run(None, inputs)


def test_argmax_with_nans_like_onnxruntime(build_dir, tmp_path):
    model = save_model(
        tmp_path,
        [helper.make_node("ArgMax", ["x"], ["i"], axis=1, keepdims=0),
         helper.make_node("ArgMin", ["x"], ["j"], axis=1, keepdims=0)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])],
        [helper.make_tensor_value_info("i", TensorProto.INT64, [3]),
         helper.make_tensor_value_info("j", TensorProto.INT64, [3])])
    x = np.array([[np.nan, 1, -2, 3], [1, np.nan, 5, np.nan],
                  [4, 1, -2, 3]], np.float32)
    so, _ = compile_model(build_dir, model, tmp_path)
    out = os.path.join(str(tmp_path), "out")
    r = run(build_dir, so, {"x": x}, out)
    assert r.returncode == 0, r.stderr
    want_i, want_j = ort_run(model, {"x": x})
    np.testing.assert_array_equal(np.load(os.path.join(out, "i.npy")), want_i)
    np.testing.assert_array_equal(np.load(os.path.join(out, "j.npy")), want_j)
    # A leading NaN is the answer (it used to be skipped: 3 for row 0).
    assert want_i[0] == 0 and want_j[0] == 0


def test_bool_bytes_other_than_one_are_true(build_dir, tmp_path):
    model = save_model(
        tmp_path, [helper.make_node("Not", ["b"], ["n"]),
                   helper.make_node("Identity", ["b"], ["same"])],
        [helper.make_tensor_value_info("b", TensorProto.BOOL, [4])],
        [helper.make_tensor_value_info("n", TensorProto.BOOL, [4]),
         helper.make_tensor_value_info("same", TensorProto.BOOL, [4])])
    so, _ = compile_model(build_dir, model, tmp_path)
    b = np.array([2, 0, 1, 255], np.uint8).view(np.bool_)
    out = os.path.join(str(tmp_path), "out")
    r = run(build_dir, so, {"b": b}, out)
    assert r.returncode == 0, r.stderr
    n = np.load(os.path.join(out, "n.npy"))
    np.testing.assert_array_equal(n, [False, True, False, False])
    same = np.load(os.path.join(out, "same.npy"))
    np.testing.assert_array_equal(same.view(np.uint8), [1, 0, 1, 1])


def test_outputs_mapping_to_one_file_are_refused(build_dir, tmp_path):
    model = save_model(
        tmp_path, [helper.make_node("Relu", ["x"], ["a/b"]),
                   helper.make_node("Neg", ["x"], ["a_b"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("a/b", TensorProto.FLOAT, [2]),
         helper.make_tensor_value_info("a_b", TensorProto.FLOAT, [2])])
    so, _ = compile_model(build_dir, model, tmp_path)
    out = os.path.join(str(tmp_path), "out")
    r = run(build_dir, so, {"x": np.ones(2, np.float32)}, out)
    assert r.returncode != 0
    assert "a/b" in r.stderr and "a_b" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(out, "a_b.npy"))


def test_absurd_thread_count_is_an_error(build_dir, tmp_path):
    model = save_model(
        tmp_path, [helper.make_node("Relu", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    so, _ = compile_model(build_dir, model, tmp_path)
    out = os.path.join(str(tmp_path), "out")
    r = run(build_dir, so, {"x": np.ones(2, np.float32)}, out,
            "--threads", "1000000")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "1000000" in r.stderr and "1024" in r.stderr, r.stderr
    r = run(build_dir, so, {"x": -np.ones(2, np.float32)}, out, "--threads",
            "3")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(os.path.join(out, "y.npy")), [0, 0])


def test_all_zero_calibration_data_is_warned_about(build_dir, tmp_path):
    rng = np.random.default_rng(0)
    w = onnx.numpy_helper.from_array(
        rng.standard_normal((8, 8)).astype(np.float32), "w")
    model = save_model(
        tmp_path, [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])], [w])
    data = os.path.join(str(tmp_path), "calib")
    for i in range(3):
        os.makedirs(os.path.join(data, f"s{i}"))
        np.save(os.path.join(data, f"s{i}", "x.npy"),
                np.zeros((2, 8), np.float32))
    _, r = compile_model(build_dir, model, tmp_path, "--quantize=w8a8",
                         "--calibration-data", data)
    assert "warning" in r.stderr and "'x' is all zeros" in r.stderr, r.stderr
    # Real data gives no such warning.
    np.save(os.path.join(data, "s1", "x.npy"),
            rng.standard_normal((2, 8)).astype(np.float32))
    _, r = compile_model(build_dir, model, tmp_path, "--quantize=w8a8",
                         "--calibration-data", data)
    assert "all zeros" not in r.stderr, r.stderr


def test_bare_artifact_name_is_a_file_here(build_dir, tmp_path):
    # dlopen("m.so") searches the system library path, not the current
    # directory: quant-run used to say "cannot open shared object file".
    model = save_model(
        tmp_path, [helper.make_node("Neg", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    compile_model(build_dir, model, tmp_path)
    np.save(os.path.join(str(tmp_path), "x.npy"), np.ones(2, np.float32))
    r = subprocess.run([os.path.join(build_dir, "bin", "quant-run"), "m.so",
                        "--input", "x=x.npy", "--output-dir", "o"],
                       capture_output=True, text=True, cwd=str(tmp_path),
                       timeout=60)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(
        np.load(os.path.join(str(tmp_path), "o", "y.npy")), [-1, -1])


def test_dynamic_dims_that_disagree_are_a_run_time_error(build_dir, tmp_path):
    # x[a] + z[b]: a and b are never compared at compile time; the loop
    # used to read past z (a=5, b=3) or silently use the shorter size.
    model = save_model(
        tmp_path, [helper.make_node("Add", ["x", "z"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["a"]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, ["b"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["a"])])
    so, _ = compile_model(build_dir, model, tmp_path)
    out = os.path.join(str(tmp_path), "out")
    r = run(build_dir, so, {"x": np.ones(5, np.float32),
                            "z": np.ones(3, np.float32)}, out)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Add node 'Add_0': inputs #0 and #1 differ in broadcast dim 0" \
        in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(out, "y.npy"))
    x = np.arange(3, dtype=np.float32)
    r = run(build_dir, so, {"x": x, "z": x}, out)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(os.path.join(out, "y.npy")), 2 * x)


def test_failed_allocation_is_a_run_time_error(build_dir, tmp_path):
    shape = onnx.numpy_helper.from_array(
        np.array([1 << 20, 1 << 20], np.int64), "s")
    model = save_model(
        tmp_path, [helper.make_node("Expand", ["x", "s"], ["e"]),
                   helper.make_node("ReduceSum", ["e"], ["y"], keepdims=0)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])], [shape])
    so, _ = compile_model(build_dir, model, tmp_path)
    r = run(build_dir, so, {"x": np.ones(1, np.float32)},
            os.path.join(str(tmp_path), "out"))
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "cannot allocate 4398046511" in r.stderr, r.stderr


def test_integer_division_at_run_time(build_dir, tmp_path):
    model = save_model(
        tmp_path, [helper.make_node("Div", ["x", "d"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.INT32, [4]),
         helper.make_tensor_value_info("d", TensorProto.INT32, [4])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [4])])
    so, _ = compile_model(build_dir, model, tmp_path)
    out = os.path.join(str(tmp_path), "out")
    x = np.array([7, -7, 9, np.iinfo(np.int32).min], np.int32)
    r = run(build_dir, so, {"x": x, "d": np.array([2, 2, 0, 1], np.int32)},
            out)
    assert r.returncode == 1, (r.returncode, r.stderr)  # was SIGFPE
    assert "Div node 'Div_0': integer division by zero" in r.stderr, r.stderr
    d = np.array([2, 2, -3, -1], np.int32)
    r = run(build_dir, so, {"x": x, "d": d}, out)
    assert r.returncode == 0, r.stderr  # INT_MIN / -1 was SIGFPE too
    got = np.load(os.path.join(out, "y.npy"))
    # Truncation toward zero, as onnxruntime (-7 / 2 = -3).
    want = ort_run(model, {"x": x, "d": np.array([2, 2, -3, 1], np.int32)})[0]
    np.testing.assert_array_equal(got[:3], want[:3])
    assert got[3] == np.iinfo(np.int32).min  # wraps, like numpy


def test_matmul_dynamic_k_and_reshape_counts_are_checked(build_dir, tmp_path):
    # x[2,k] @ W[16,8]: k=4 silently used 4 rows, k=32 read past W.
    w = onnx.numpy_helper.from_array(np.ones((16, 8), np.float32), "w")
    mm = save_model(
        tmp_path, [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, "k"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])], [w],
        name="mm.onnx")
    so, _ = compile_model(build_dir, mm, tmp_path)
    out = os.path.join(str(tmp_path), "out")
    for k in (4, 32):
        r = run(build_dir, so, {"x": np.ones((2, k), np.float32)}, out)
        assert r.returncode == 1, (k, r.returncode, r.stderr)
        assert "MatMul node 'MatMul_0': the input's last dim differs" \
            in r.stderr, r.stderr
    x = np.random.default_rng(1).standard_normal((2, 16)).astype(np.float32)
    r = run(build_dir, so, {"x": x}, out)
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.load(os.path.join(out, "y.npy")),
                               ort_run(mm, {"x": x})[0], rtol=1e-5, atol=1e-5)

    # x[a,4] reshaped to [-1,3]: a=2 (8 elements) used to give [2,3].
    shape = onnx.numpy_helper.from_array(np.array([-1, 3], np.int64), "s")
    rs = save_model(
        tmp_path, [helper.make_node("Reshape", ["x", "s"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["a", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 3])],
        [shape], name="rs.onnx")
    so, _ = compile_model(build_dir, rs, tmp_path)
    r = run(build_dir, so, {"x": np.ones((2, 4), np.float32)}, out)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Reshape node 'Reshape_0': the shape does not hold as many " \
        "elements as the input" in r.stderr, r.stderr
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    r = run(build_dir, so, {"x": x}, out)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(os.path.join(out, "y.npy")),
                                  x.reshape(-1, 3))


def test_gather_index_out_of_range_is_a_run_time_error(build_dir, tmp_path):
    # Embedding lookups with a bad token id: the gather clamps (no read out
    # of bounds) but the answer was silently the last row; onnxruntime
    # reports an error, and so do we.
    table = onnx.numpy_helper.from_array(
        np.arange(12, dtype=np.float32).reshape(4, 3), "table")
    model = save_model(
        tmp_path, [helper.make_node("Gather", ["table", "ids"], ["y"])],
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 3])],
        [table])
    so, _ = compile_model(build_dir, model, tmp_path)
    out = os.path.join(str(tmp_path), "out")
    for bad in (4, -5, 1 << 40):
        r = run(build_dir, so, {"ids": np.array([0, bad, 1], np.int64)}, out)
        assert r.returncode == 1, (bad, r.returncode, r.stderr)
        assert "Gather node 'Gather_0': an index is out of range" \
            in r.stderr, r.stderr
    ids = np.array([3, -4, 1], np.int64)  # negative indices count from the end
    r = run(build_dir, so, {"ids": ids}, out)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(os.path.join(out, "y.npy")),
                                  ort_run(model, {"ids": ids})[0])


@pytest.mark.parametrize("op", ["GatherElements", "GatherND", "ScatterND"])
def test_index_ops_out_of_range_are_run_time_errors(build_dir, tmp_path, op):
    # These used to clamp out-of-range indices silently (a wrong answer with
    # exit 0); onnxruntime reports an error and so do we, naming the node.
    data = onnx.numpy_helper.from_array(
        np.arange(12, dtype=np.float32).reshape(4, 3), "data")
    if op == "GatherElements":
        node = helper.make_node(op, ["data", "ids"], ["y"], axis=0,
                                name="ge")
        ids_shape, y_shape = [2, 3], [2, 3]
        good = np.array([[3, 0, -4], [1, 2, 3]], np.int64)
        bads = [np.array([[0, 4, 0], [0, 0, 0]], np.int64),
                np.array([[0, 0, 0], [0, -5, 0]], np.int64)]
        name = "GatherElements node 'ge'"
        inits, extra_inputs, feeds = [data], [], {}
    elif op == "GatherND":
        node = helper.make_node(op, ["data", "ids"], ["y"], name="gnd")
        ids_shape, y_shape = [2, 2], [2]
        good = np.array([[3, 2], [-1, -3]], np.int64)
        # Column 1 indexes an axis of 3: 3 is out of range there although
        # it is a valid row index (each column has its own bound).
        bads = [np.array([[0, 3], [0, 0]], np.int64),
                np.array([[4, 0], [0, 0]], np.int64)]
        name = "GatherND node 'gnd'"
        inits, extra_inputs, feeds = [data], [], {}
    else:
        upd = onnx.numpy_helper.from_array(
            np.array([[10, 11, 12], [20, 21, 22]], np.float32), "upd")
        node = helper.make_node(op, ["x", "ids", "upd"], ["y"], name="snd")
        ids_shape, y_shape = [2, 1], [4, 3]
        good = np.array([[3], [-4]], np.int64)
        bads = [np.array([[1], [4]], np.int64),
                np.array([[-5], [0]], np.int64)]
        name = "ScatterND node 'snd'"
        inits = [upd]
        extra_inputs = [helper.make_tensor_value_info(
            "x", TensorProto.FLOAT, [4, 3])]
        feeds = {"x": np.arange(12, dtype=np.float32).reshape(4, 3)}
    model = save_model(
        tmp_path, [node],
        extra_inputs + [helper.make_tensor_value_info(
            "ids", TensorProto.INT64, ids_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
        inits)
    so, _ = compile_model(build_dir, model, tmp_path)
    out = os.path.join(str(tmp_path), "out")
    for bad in bads:
        with pytest.raises(Exception):
            ort_run(model, {**feeds, "ids": bad})
        r = run(build_dir, so, {**feeds, "ids": bad}, out)
        assert r.returncode == 1, (bad, r.returncode, r.stderr)
        assert f"{name}: an index is out of range" in r.stderr, r.stderr
    r = run(build_dir, so, {**feeds, "ids": good}, out)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(os.path.join(out, "y.npy")),
                                  ort_run(model, {**feeds, "ids": good})[0])


def test_w8a8_calibrates_through_a_padded_maxpool(build_dir, tmp_path):
    # MaxPool pads with -inf: its padded input used to be observed (linalg
    # sees pooling as a convolution) and calibration failed with "observer
    # saw a NaN or an infinity" on every such CNN (YOLO-style detectors).
    rng = np.random.default_rng(3)
    w1 = onnx.numpy_helper.from_array(
        rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w1")
    w2 = onnx.numpy_helper.from_array(
        rng.standard_normal((8, 8, 3, 3)).astype(np.float32), "w2")
    model = save_model(
        tmp_path,
        [helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),
         helper.make_node("MaxPool", ["a"], ["p"], kernel_shape=[3, 3],
                          pads=[1, 1, 1, 1], strides=[2, 2]),
         helper.make_node("Conv", ["p", "w2"], ["y"], pads=[1, 1, 1, 1])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])],
        [w1, w2])
    data = os.path.join(str(tmp_path), "calib")
    for i in range(4):
        os.makedirs(os.path.join(data, f"s{i}"))
        np.save(os.path.join(data, f"s{i}", "x.npy"),
                rng.standard_normal((1, 3, 16, 16)).astype(np.float32))
    so, _ = compile_model(build_dir, model, tmp_path, "--quantize=w8a8",
                          "--calibration-data", data)
    x = rng.standard_normal((1, 3, 16, 16)).astype(np.float32)
    out = os.path.join(str(tmp_path), "out")
    r = run(build_dir, so, {"x": x}, out)
    assert r.returncode == 0, r.stderr
    got = np.load(os.path.join(out, "y.npy"))
    want = ort_run(model, {"x": x})[0]
    sqnr = 10 * np.log10(np.sum(want ** 2) / np.sum((got - want) ** 2))
    assert sqnr > 25, sqnr


def test_concat_dynamic_dims_outside_the_axis_are_checked(build_dir, tmp_path):
    # x[a,2] ++ z[b,2] along axis 1: a != b used to copy z past the
    # output's end (or leave rows unwritten).
    model = save_model(
        tmp_path, [helper.make_node("Concat", ["x", "z"], ["y"], axis=1)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["a", 2]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, ["b", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["a", 5])])
    so, _ = compile_model(build_dir, model, tmp_path)
    out = os.path.join(str(tmp_path), "out")
    r = run(build_dir, so, {"x": np.ones((2, 2), np.float32),
                            "z": np.ones((64, 3), np.float32)}, out)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Concat node 'Concat_0': input #1's dim 0 differs from input " \
        "#0's at run time" in r.stderr, r.stderr
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    z = np.arange(9, dtype=np.float32).reshape(3, 3)
    r = run(build_dir, so, {"x": x, "z": z}, out)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(os.path.join(out, "y.npy")),
                                  np.concatenate([x, z], axis=1))

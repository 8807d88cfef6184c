"""BitShift, Bitwise*, and the small math ops of Ops/MathOps.cpp imported
and compiled by quant-opt against onnxruntime. Integer results are cast to
float inside the models (the harness compares float32 outputs)."""

import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from onnx_harness import check, make_model, run_quant_opt, vi
from test_artifacts import onnxruntime_run, quant_run

F = TensorProto.FLOAT

INT_TYPES = {np.uint8: TensorProto.UINT8, np.uint16: TensorProto.UINT16,
             np.uint32: TensorProto.UINT32, np.int8: TensorProto.INT8,
             np.int32: TensorProto.INT32, np.int64: TensorProto.INT64}


def compile_and_run(model, inputs, tmp_path, build_dir):
    """quant-compile + quant-run of `model` on `inputs`: exact integer
    outputs with their dtypes (the mlir-runner harness prints floats)."""
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    so = tmp_path / "model.so"
    res = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                          str(path), "-o", str(so)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return quant_run(build_dir, str(so), inputs, str(tmp_path))


def assert_equal_outputs(ours, ref):
    assert set(ours) == set(ref)
    for k, want in ref.items():
        assert ours[k].dtype == want.dtype, k
        np.testing.assert_array_equal(ours[k], want, err_msg=k)


def _shift_model(dtype, opset):
    t = INT_TYPES[dtype]
    nodes = [helper.make_node("BitShift", ["x", "y"], [d], direction=d.upper())
             for d in ["left", "right"]]
    return make_model(nodes, [vi("x", [3, 5], t), vi("y", [5], t)],
                      [vi("left", [3, 5], t), vi("right", [3, 5], t)],
                      opset=opset)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32])
def test_bitshift_unsigned_matches_onnxruntime(tmp_path, build_dir, dtype):
    # Opset 11 (onnxruntime's BitShift): amounts inside the bit width, a
    # broadcast amount, values whose high bits are shifted out.
    bits = np.iinfo(dtype).bits
    rng = np.random.default_rng(bits)
    x = rng.integers(0, np.iinfo(dtype).max, size=(3, 5),
                     dtype=np.uint64).astype(dtype)
    y = rng.integers(0, bits, size=(5,)).astype(dtype)
    model = _shift_model(dtype, 11)
    ours = compile_and_run(model, {"x": x, "y": y}, tmp_path, build_dir)
    assert_equal_outputs(ours, onnxruntime_run(model.SerializeToString(),
                                               {"x": x, "y": y}))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int32, np.int64])
def test_bitshift_out_of_range_amounts(tmp_path, build_dir, dtype):
    # Opset 28: amounts that are negative or >= the width give 0 (-1 for a
    # right shift of a negative value); the ONNX reference evaluator is the
    # reference (onnxruntime's shifts are C++ shifts there).
    bits = np.iinfo(dtype).bits
    info = np.iinfo(dtype)
    x = np.array([[1, info.max, info.min, 5, info.max // 3]] * 3, dtype)
    if info.min < 0:
        x[1] = -x[0] - 1
    amounts = [0, bits - 1, bits, bits + 3, 1]
    if info.min < 0:
        amounts[4] = -1
    y = np.array(amounts, dtype)
    model = _shift_model(dtype, 28)
    ours = compile_and_run(model, {"x": x, "y": y}, tmp_path, build_dir)
    ref = ReferenceEvaluator(model).run(None, {"x": x, "y": y})
    assert_equal_outputs(ours, {"left": ref[0], "right": ref[1]})


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.int64])
def test_bitwise(tmp_path, build_dir, dtype):
    rng = np.random.default_rng(7)
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, size=(2, 3, 4), dtype=dtype)
    b = rng.integers(info.min, info.max, size=(3, 1), dtype=dtype)
    t = INT_TYPES[dtype]
    nodes, outs = [], []
    for op in ["BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot"]:
        ins = ["a"] if op == "BitwiseNot" else ["a", "b"]
        nodes.append(helper.make_node(op, ins, [op]))
        outs.append(vi(op, [2, 3, 4], t))
    model = make_model(nodes, [vi("a", [2, 3, 4], t), vi("b", [3, 1], t)],
                       outs, opset=18)
    ours = compile_and_run(model, {"a": a, "b": b}, tmp_path, build_dir)
    assert_equal_outputs(ours, onnxruntime_run(model.SerializeToString(),
                                               {"a": a, "b": b}))


def _unary_model(specs, shape, opset):
    nodes, outs = [], []
    for i, (op, attrs) in enumerate(specs):
        name = f"{op.lower()}_{i}"
        nodes.append(helper.make_node(op, ["x"], [name], **attrs))
        outs.append(vi(name, None))
    return make_model(nodes, [vi("x", list(shape))], outs, opset=opset)


def test_trigonometric(tmp_path, build_dir):
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.95, 0.95, size=(4, 6)).astype(np.float32)
    specs = [(op, {}) for op in ["Acos", "Asin", "Atan", "Asinh", "Atanh",
                                 "Cosh", "Sinh", "Tan"]]
    model = _unary_model(specs, x.shape, opset=13)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref, rtol=1e-5, atol=1e-6)
    # Acosh is defined from 1 on.
    model = _unary_model([("Acosh", {})], x.shape, opset=13)
    ours, ref = run_quant_opt(model, {"x": 1.0 + np.abs(x) * 4}, tmp_path,
                              build_dir)
    check(ours, ref, rtol=1e-5, atol=1e-6)


def test_small_ops(tmp_path, build_dir):
    rng = np.random.default_rng(2)
    x = rng.uniform(-2.0, 2.0, size=(2, 5, 3, 4)).astype(np.float32)
    x[0, :, 0, 0] = 0.0  # a zero vector for LpNormalization along axis 1
    specs = [("Shrink", {"lambd": 0.7, "bias": 0.2}),
             ("Shrink", {}),
             ("Hardmax", {"axis": 1}),
             ("Hardmax", {"axis": -1}),
             ("LpNormalization", {"axis": 1, "p": 1}),
             ("LpNormalization", {"axis": -1, "p": 2}),
             ("MeanVarianceNormalization", {}),
             ("MeanVarianceNormalization", {"axes": [1, 3]}),
             ("LRN", {"size": 3, "alpha": 0.01, "beta": 0.5, "bias": 2.0}),
             ("LRN", {"size": 5}),
             ("ReduceLogSum", {"axes": [1, 2], "keepdims": 0})]
    # ReduceLogSum of positive values.
    model = _unary_model(specs[:-1], x.shape, opset=13)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref, rtol=1e-5, atol=1e-5)
    model = _unary_model(specs[-1:], x.shape, opset=13)
    ours, ref = run_quant_opt(model, {"x": np.abs(x) + 0.1}, tmp_path,
                              build_dir)
    check(ours, ref, rtol=1e-5, atol=1e-6)


def test_hardmax_ties_take_the_first(tmp_path, build_dir):
    x = np.array([[1, 3, 3, 2], [5, 5, 5, 5], [0, -1, 0, -2]], np.float32)
    model = _unary_model([("Hardmax", {"axis": 1}), ("Hardmax", {"axis": 0})],
                         x.shape, opset=13)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref, rtol=0, atol=0)


def test_eyelike_and_reverse_sequence(tmp_path, build_dir):
    x = np.arange(24, dtype=np.float32).reshape(4, 3, 2)  # [T, B, D]
    lens = numpy_helper.from_array(np.array([4, 1, 3], np.int64), "lens")
    nodes = [helper.make_node("ReverseSequence", ["x", "lens"], ["r"],
                              batch_axis=1, time_axis=0),
             helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node("ReverseSequence", ["xt", "lens"], ["rt"],
                              batch_axis=0, time_axis=1),
             helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Slice", ["x", "zero", "two", "zero"], ["x2"]),
             helper.make_node("ReduceSum", ["x2", "two_ax"], ["m"],
                              keepdims=0),
             helper.make_node("EyeLike", ["m"], ["e0"]),
             helper.make_node("EyeLike", ["m"], ["e1"], k=1),
             helper.make_node("EyeLike", ["m"], ["em"], k=-1,
                              dtype=TensorProto.INT32),
             helper.make_node("Cast", ["em"], ["emf"], to=F)]
    inits = [lens,
             numpy_helper.from_array(np.array([0], np.int64), "zero"),
             numpy_helper.from_array(np.array([2], np.int64), "two"),
             numpy_helper.from_array(np.array([2], np.int64), "two_ax")]
    outs = [vi(n) for n in ["r", "rt", "e0", "e1", "emf"]]
    model = make_model(nodes, [vi("x", [4, 3, 2])], outs, inits, opset=13)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref, rtol=0, atol=0, check_shapes=True)


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_elements(tmp_path, build_dir, reduction):
    rng = np.random.default_rng(11)
    data = rng.uniform(-2, 2, size=(3, 4, 5)).astype(np.float32)
    upd = rng.uniform(-2, 2, size=(3, 2, 5)).astype(np.float32)
    # Repeated and negative indices along axis 1.
    idx = np.array([[[0, 1, -1, 3, 0], [0, 2, 3, -4, 0]]] * 3, np.int64)
    if reduction == "none":
        idx[:, 1, 0] = 1  # duplicates only where a reduction combines them
        idx[:, 1, 4] = 2
    inits = [numpy_helper.from_array(idx, "idx")]
    attrs = {"axis": 1}
    if reduction != "none":
        attrs["reduction"] = reduction
    nodes = [helper.make_node("ScatterElements", ["d", "idx", "u"], ["y"],
                              **attrs)]
    model = make_model(nodes, [vi("d", [3, 4, 5]), vi("u", [3, 2, 5])],
                       [vi("y", [3, 4, 5])], inits, opset=18)
    ours, ref = run_quant_opt(model, {"d": data, "u": upd}, tmp_path,
                              build_dir)
    check(ours, ref, rtol=1e-5, atol=1e-5)


def test_scatter_elements_index_out_of_range(tmp_path, build_dir):
    nodes = [helper.make_node("ScatterElements", ["d", "idx", "u"], ["y"],
                              name="sc", axis=0)]
    model = make_model(nodes, [vi("d", [4]), vi("idx", [2], TensorProto.INT64),
                               vi("u", [2])], [vi("y", [4])], opset=13)
    d = np.zeros(4, np.float32)
    u = np.ones(2, np.float32)
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    so = tmp_path / "model.so"
    subprocess.run([os.path.join(build_dir, "bin", "quant-compile"), str(path),
                    "-o", str(so)], check=True)
    good = quant_run(build_dir, str(so), {"d": d, "u": u,
                                          "idx": np.array([-4, 3])},
                     str(tmp_path))
    np.testing.assert_array_equal(good["y"], [1, 0, 0, 1])
    args = [os.path.join(build_dir, "bin", "quant-run"), str(so)]
    for name, arr in {"d": d, "u": u, "idx": np.array([0, 4])}.items():
        np.save(tmp_path / f"{name}.npy", arr)
        args += ["--input", f"{name}={tmp_path / (name + '.npy')}"]
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode != 0
    assert "ScatterElements node 'sc': indices (input #1) hold a value " \
        "outside [-size, size)" in res.stderr, res.stderr


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [3, 3], "p": 2},
    {"kernel_shape": [2, 3], "p": 3, "strides": [2, 1], "pads": [1, 0, 0, 1]},
    {"kernel_shape": [2, 2], "p": 1, "auto_pad": "SAME_UPPER"}])
def test_lppool(tmp_path, build_dir, attrs):
    rng = np.random.default_rng(4)
    x = rng.uniform(-2, 2, size=(2, 3, 6, 5)).astype(np.float32)
    model = _unary_model([("LpPool", attrs)], x.shape, opset=11)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref, rtol=1e-5, atol=1e-5, check_shapes=True)


def test_det(tmp_path, build_dir):
    rng = np.random.default_rng(5)
    x = rng.uniform(-2, 2, size=(6, 4, 4)).astype(np.float32)
    x[1, 0] = 0.0  # a zero first column entry: pivoting
    x[1, :, 0] = 0.0  # a zero column: det 0, not NaN
    x[2, 3] = x[2, 1]  # singular by equal rows
    x[3] = np.triu(x[3])  # no swaps
    model = _unary_model([("Det", {})], x.shape, opset=13)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref, rtol=1e-4, atol=1e-5, check_shapes=True)
    np.testing.assert_allclose(ours["det_0"], np.linalg.det(x), rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("to", [TensorProto.INT4, TensorProto.UINT4,
                                TensorProto.INT2, TensorProto.UINT2])
def test_cast_to_sub_byte_integers(tmp_path, build_dir, to):
    # Integers keep their low bits (ONNX: "discard higher bits"); floats
    # truncate toward zero, and out of range give 0 as the ONNX reference
    # does (undefined in ONNX). Cast back to int8 to read the values.
    ints = np.array([-9, -8, -3, -2, -1, 0, 1, 2, 3, 7, 8, 20], np.int32)
    floats = np.array([-9, -8.5, -2.7, -1.5, -0.5, 0, 0.9, 1.5, 2.99, 7.2, 8,
                       np.nan], np.float32)
    back = TensorProto.INT8 if to in (TensorProto.INT4, TensorProto.INT2) \
        else TensorProto.UINT8
    bits = 4 if to in (TensorProto.INT4, TensorProto.UINT4) else 2
    nodes = [helper.make_node("Cast", ["i"], ["ci"], to=to),
             helper.make_node("Cast", ["ci"], ["ri"], to=back),
             helper.make_node("Cast", ["f"], ["cf"], to=to),
             helper.make_node("Cast", ["cf"], ["rf"], to=back)]
    model = make_model(nodes, [vi("i", [12], TensorProto.INT32),
                               vi("f", [12])],
                       [vi("ri", [12], back), vi("rf", [12], back)],
                       opset=21 if bits == 4 else 25)
    model.ir_version = 10 if bits == 4 else 11  # int2 is IR 11
    ours = compile_and_run(model, {"i": ints, "f": floats}, tmp_path,
                           build_dir)
    signed = back == TensorProto.INT8
    low = ints & ((1 << bits) - 1)
    if signed:
        low = np.where(low >= 1 << (bits - 1), low - (1 << bits), low)
    np.testing.assert_array_equal(ours["ri"], low)
    # onnxruntime agrees on the integer path (it wraps out-of-range floats,
    # where the ONNX reference gives 0).
    ref = onnxruntime_run(model.SerializeToString(), {"i": ints, "f": floats})
    np.testing.assert_array_equal(ours["ri"], ref["ri"])
    lo, hi = ((-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed
              else (0, (1 << bits) - 1))
    with np.errstate(invalid="ignore"):
        t = np.trunc(floats)
        want = np.where((t >= lo) & (t <= hi), t, 0)
    np.testing.assert_array_equal(ours["rf"], want)


@pytest.mark.parametrize("dtype", [TensorProto.INT2, TensorProto.UINT2])
def test_quantize_dequantize_2bit(tmp_path, build_dir, dtype):
    # QuantizeLinear to 2-bit integers (saturating to [-2, 1] / [0, 3]) and
    # back; the quantized values are read through a Cast to int8.
    zp = 0 if dtype == TensorProto.INT2 else 1
    inits = [numpy_helper.from_array(np.array(0.5, np.float32), "s"),
             helper.make_tensor("z", dtype, [], [zp])]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("Cast", ["q"], ["qi"], to=TensorProto.INT8),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])]
    model = make_model(nodes, [vi("x", [9])],
                       [vi("qi", [9], TensorProto.INT8), vi("y", [9])],
                       inits, opset=25)
    model.ir_version = 11
    x = np.array([-3, -1.2, -0.75, -0.25, 0, 0.25, 0.6, 1.0, 4.0], np.float32)
    ours = compile_and_run(model, {"x": x}, tmp_path, build_dir)
    ref = onnxruntime_run(model.SerializeToString(), {"x": x})
    assert_equal_outputs(ours, ref)


def test_packed_int32_data_count_is_checked(tmp_path, build_dir):
    # Three int4 values take two packed bytes, one per int32_data entry.
    t = onnx.TensorProto(name="w", data_type=TensorProto.INT4, dims=[3])
    t.int32_data.extend([0x21, 0x03, 0x00])
    nodes = [helper.make_node("Cast", ["w"], ["y"], to=TensorProto.FLOAT)]
    model = make_model(nodes, [], [vi("y", [3])], [t], opset=21)
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    res = subprocess.run([os.path.join(build_dir, "bin", "quant-translate"),
                          "--import-onnx", str(path)],
                         capture_output=True, text=True)
    assert res.returncode != 0
    assert "tensor 'w' holds 3 packed bytes in int32_data, its dims need 2" \
        in res.stderr, res.stderr
    del t.int32_data[2]
    model = make_model(nodes, [], [vi("y", [3])], [t], opset=21)
    onnx.save(model, path)
    res = subprocess.run([os.path.join(build_dir, "bin", "quant-translate"),
                          "--import-onnx", str(path)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "dense<[1, 2, 3]> : tensor<3xi4>" in res.stdout, res.stdout


@pytest.mark.parametrize("opset,scales", [(7, [1.0, 1.0, 2.0, 3.0]),
                                          (9, [1.0, 2.0, 1.5, 2.5])])
def test_upsample_nearest(tmp_path, build_dir, opset, scales):
    x = np.arange(2 * 2 * 3 * 2, dtype=np.float32).reshape(2, 2, 3, 2)
    if opset == 7:
        nodes = [helper.make_node("Upsample", ["x"], ["y"], mode="nearest",
                                  scales=scales)]
        inits = []
    else:
        nodes = [helper.make_node("Upsample", ["x", "s"], ["y"],
                                  mode="nearest")]
        inits = [numpy_helper.from_array(np.array(scales, np.float32), "s")]
    model = make_model(nodes, [vi("x", list(x.shape))], [vi("y")], inits,
                       opset=opset)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref, rtol=0, atol=0, check_shapes=True)


@pytest.mark.parametrize("dtype", [TensorProto.FLOAT8E4M3FN,
                                   TensorProto.FLOAT8E5M2])
def test_dequantize_float8(tmp_path, build_dir, dtype):
    # A float8 constant dequantized per axis by a scale given at run time,
    # with and without a (float8) zero point (onnxruntime requires zeros).
    vals = [0.0, 0.5, -1.25, 3.0, 448.0 if dtype == TensorProto.FLOAT8E4M3FN
            else 57344.0, -0.0625, 7.0, -2.0, 1.5, 0.75, -6.0, 10.0]
    ml_dtypes = pytest.importorskip("ml_dtypes")
    np_t = (ml_dtypes.float8_e4m3fn if dtype == TensorProto.FLOAT8E4M3FN
            else ml_dtypes.float8_e5m2)
    # raw_data, as exporters write float8 (typed fields are not read).
    inits = [numpy_helper.from_array(np.array(vals, np_t).reshape(3, 4), "q"),
             numpy_helper.from_array(np.zeros(4, np_t), "z")]
    nodes = [helper.make_node("DequantizeLinear", ["q", "s"], ["y"], axis=1),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["yz"],
                              axis=1)]
    model = make_model(nodes, [vi("s", [4])], [vi("y", [3, 4]),
                                               vi("yz", [3, 4])],
                       inits, opset=19)
    s = np.array([0.5, 2.0, 0.125, 1.0], np.float32)
    ours, ref = run_quant_opt(model, {"s": s}, tmp_path, build_dir)
    check(ours, ref, rtol=1e-6, atol=0, check_shapes=True)


@pytest.mark.parametrize("dtype", [TensorProto.FLOAT8E4M3FN,
                                   TensorProto.FLOAT8E5M2])
def test_quantize_float8_roundtrip(tmp_path, build_dir, dtype):
    # QuantizeLinear to float8 (saturating, round to nearest even) per
    # axis, then DequantizeLinear, vs onnxruntime.
    ml_dtypes = pytest.importorskip("ml_dtypes")
    np_t = (ml_dtypes.float8_e4m3fn if dtype == TensorProto.FLOAT8E4M3FN
            else ml_dtypes.float8_e5m2)
    inits = [numpy_helper.from_array(np.array([0.5, 0.02, 4.0], np.float32),
                                     "s"),
             numpy_helper.from_array(np.zeros(3, np_t), "z")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"],
                              axis=1),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"],
                              axis=1)]
    model = make_model(nodes, [vi("x", [4, 3])], [vi("y", [4, 3])], inits,
                       opset=19)
    x = np.array([[0.1, -3.3, 1e6], [7.77, 0.013, -1e6], [-0.2, 1.0, 33.0],
                  [np.inf, -np.inf, 0.03]], np.float32)
    ours, ref = run_quant_opt(model, {"x": x}, tmp_path, build_dir)
    check(ours, ref, rtol=1e-5, atol=0, check_shapes=True)  # 6 printed digits

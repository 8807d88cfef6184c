"""quant-translate --import-onnx on hostile and broken inputs: every case
ends in a clear error naming what is wrong and exit status 1, never a crash
and never an output file."""

import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper


def translate(build_dir, path, tmp_path, *extra):
    out = os.path.join(str(tmp_path), "out.mlir")
    if os.path.exists(out):
        os.remove(out)
    r = subprocess.run([os.path.join(build_dir, "bin", "quant-translate"),
                        "--import-onnx", str(path), "-o", out, *extra],
                       capture_output=True, text=True, timeout=60)
    return r, os.path.exists(out)


def expect_error(build_dir, path, tmp_path, message, *extra):
    r, wrote = translate(build_dir, path, tmp_path, *extra)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert message in r.stderr, r.stderr
    assert not wrote, "a failed import must not leave an output file"


def model_with(inits, nodes=None, inputs=None, outputs=None, opset=17):
    nodes = nodes if nodes is not None else [
        helper.make_node("Identity", [inits[0].name], ["y"])]
    graph = helper.make_graph(nodes, "g", inputs or [],
                              outputs or [helper.make_tensor_value_info(
                                  "y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, ir_version=8,
                             opset_imports=[helper.make_opsetid("", opset)])


def save(model, tmp_path, name="model.onnx"):
    path = os.path.join(str(tmp_path), name)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return path


def small_valid_model():
    w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")]
    return model_with([w], nodes,
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 2])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 3])])


def test_valid_model_imports(build_dir, tmp_path):
    r, wrote = translate(build_dir, save(small_valid_model(), tmp_path),
                         tmp_path)
    assert r.returncode == 0, r.stderr
    assert wrote


def test_empty_file(build_dir, tmp_path):
    path = os.path.join(str(tmp_path), "empty.onnx")
    open(path, "wb").close()
    expect_error(build_dir, path, tmp_path, "the file is empty")


def test_missing_file(build_dir, tmp_path):
    r, _ = translate(build_dir, os.path.join(str(tmp_path), "nope.onnx"),
                     tmp_path)
    assert r.returncode == 1 and "nope.onnx" in r.stderr


@pytest.mark.parametrize("seed", range(12))
def test_random_bytes_never_crash(build_dir, tmp_path, seed):
    data = np.random.default_rng(seed).integers(0, 256, 64 + 97 * seed,
                                                dtype=np.uint8).tobytes()
    path = os.path.join(str(tmp_path), "random.onnx")
    with open(path, "wb") as f:
        f.write(b"\x08" + data)  # not '<', so parsed as binary
    r, wrote = translate(build_dir, path, tmp_path)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "error:" in r.stderr and not wrote


def test_truncated_models_never_crash(build_dir, tmp_path):
    data = small_valid_model().SerializeToString()
    for cut in range(1, len(data), max(1, len(data) // 25)):
        path = os.path.join(str(tmp_path), "cut.onnx")
        with open(path, "wb") as f:
            f.write(data[:cut])
        r, wrote = translate(build_dir, path, tmp_path)
        # A cut at a field boundary is still a valid (smaller) protobuf and
        # may import; anything else must be a clean error.
        assert r.returncode in (0, 1), (cut, r.returncode, r.stderr)
        assert wrote == (r.returncode == 0)


def raw_tensor(name, dims, raw, dtype=TensorProto.FLOAT):
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.raw_data = raw
    return t


def test_raw_data_shorter_than_dims(build_dir, tmp_path):
    t = raw_tensor("w", [2, 2], b"\0" * 8)
    expect_error(build_dir, save(model_with([t]), tmp_path), tmp_path,
                 "tensor 'w' holds 8 bytes of raw_data, its dims and dtype need 16")


def test_typed_data_count_mismatch(build_dir, tmp_path):
    t = helper.make_tensor("w", TensorProto.FLOAT, [3], [1.0, 2.0, 3.0])
    del t.float_data[:]
    t.float_data.extend([1.0, 2.0])
    expect_error(build_dir, save(model_with([t]), tmp_path), tmp_path,
                 "tensor 'w' holds 2 values in its typed data field, its dims need 3")


def test_negative_dims(build_dir, tmp_path):
    t = raw_tensor("w", [2, -3], b"")
    expect_error(build_dir, save(model_with([t]), tmp_path), tmp_path,
                 "tensor 'w' has a negative dimension (-3)")


def test_overflowing_dims(build_dir, tmp_path):
    t = raw_tensor("w", [1 << 40, 1 << 40, 16], b"")
    expect_error(build_dir, save(model_with([t]), tmp_path), tmp_path,
                 "tensor 'w' has dimensions whose product overflows")


def test_float8e8m0_is_unsupported(build_dir, tmp_path):
    # E8M0 (scale-only, rounding mode "up") has no lowering; the other
    # float8 formats and float4 import.
    t = raw_tensor("w", [2], b"\0\0", dtype=24)
    expect_error(build_dir, save(model_with([t]), tmp_path), tmp_path,
                 "tensor 'w' has unsupported dtype float8e8m0")


def external_tensor(name, dims, location, offset=None, length=None):
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset),
                 ("length", length)):
        if v is not None:
            e = t.external_data.add()
            e.key, e.value = k, str(v)
    return t


def test_external_data_loads(build_dir, tmp_path):
    data = np.arange(8, dtype=np.float32)
    with open(os.path.join(str(tmp_path), "weights.bin"), "wb") as f:
        f.write(b"\0" * 16 + data.tobytes())
    t = external_tensor("w", [2, 4], "weights.bin", offset=16, length=32)
    r, wrote = translate(build_dir, save(model_with([t]), tmp_path), tmp_path)
    assert r.returncode == 0, r.stderr
    text = open(os.path.join(str(tmp_path), "out.mlir")).read()
    assert "dense_resource<w> : tensor<2x4xf32>" in text
    assert data.tobytes().hex().upper() in text


def test_external_data_parent_escape(build_dir, tmp_path):
    t = external_tensor("w", [2], "../secret.bin")
    expect_error(build_dir, save(model_with([t]), tmp_path), tmp_path,
                 "external data location '../secret.bin' leaves the model's directory")


def test_external_data_absolute_path(build_dir, tmp_path):
    t = external_tensor("w", [2], "/etc/passwd")
    expect_error(build_dir, save(model_with([t]), tmp_path), tmp_path,
                 "external data location '/etc/passwd' must be relative")


def test_external_data_symlink_escape(build_dir, tmp_path):
    outside = tmp_path / "outside"
    inside = tmp_path / "model_dir"
    outside.mkdir()
    inside.mkdir()
    (outside / "secret.bin").write_bytes(b"\0" * 8)
    os.symlink(outside / "secret.bin", inside / "link.bin")
    t = external_tensor("w", [2], "link.bin")
    path = save(model_with([t]), inside)
    expect_error(build_dir, path, tmp_path,
                 "external data location 'link.bin' resolves outside the model's directory")


def test_external_data_range_beyond_file(build_dir, tmp_path):
    with open(os.path.join(str(tmp_path), "w.bin"), "wb") as f:
        f.write(b"\0" * 8)
    t = external_tensor("w", [2], "w.bin", offset=4, length=8)
    expect_error(build_dir, save(model_with([t]), tmp_path), tmp_path,
                 "exceeds the 8-byte file 'w.bin'")


def test_external_data_wrong_length(build_dir, tmp_path):
    with open(os.path.join(str(tmp_path), "w.bin"), "wb") as f:
        f.write(b"\0" * 64)
    t = external_tensor("w", [2], "w.bin", length=12)
    expect_error(build_dir, save(model_with([t]), tmp_path), tmp_path,
                 "external data holds 12 bytes, its dims and dtype need 8")


def test_unknown_operator(build_dir, tmp_path):
    model = small_valid_model()
    model.graph.node[0].op_type = "FooBar"
    expect_error(build_dir, save(model, tmp_path), tmp_path,
                 "FooBar node 'mm' (opset 17): operator 'FooBar' is not supported")


def test_unsupported_attribute(build_dir, tmp_path):
    model = small_valid_model()
    model.graph.node[0].attribute.append(helper.make_attribute("foo", 1))
    expect_error(build_dir, save(model, tmp_path), tmp_path,
                 "MatMul node 'mm' (opset 17): attribute 'foo' is not supported")


def test_unsupported_domain(build_dir, tmp_path):
    model = small_valid_model()
    model.graph.node[0].domain = "com.example"
    expect_error(build_dir, save(model, tmp_path), tmp_path,
                 "operator domain 'com.example' is not supported")


def test_undefined_input(build_dir, tmp_path):
    model = small_valid_model()
    model.graph.node[0].input[1] = "nowhere"
    expect_error(build_dir, save(model, tmp_path), tmp_path,
                 "input 'nowhere' is not defined")


def test_unsupported_opset(build_dir, tmp_path):
    model = small_valid_model()
    model.opset_import[0].version = 99
    expect_error(build_dir, save(model, tmp_path), tmp_path,
                 "ai.onnx opset 99 is not supported")


def test_bad_pin_shape(build_dir, tmp_path):
    path = save(small_valid_model(), tmp_path)
    expect_error(build_dir, path, tmp_path,
                 "--pin-shape names 'z', which is not a graph input",
                 "--pin-shape=z=1x2")
    expect_error(build_dir, path, tmp_path,
                 "--pin-shape gives 5 for dim 0, the model declares 4",
                 "--pin-shape=x=5x2")


def relu_model(input_info):
    graph = helper.make_graph(
        [helper.make_node("Relu", [input_info.name], ["y"])], "g", [input_info],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, ir_version=8,
                             opset_imports=[helper.make_opsetid("", 17)])


def test_input_without_shape(build_dir, tmp_path):
    path = save(relu_model(helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                         None)), tmp_path)
    expect_error(build_dir, path, tmp_path,
                 "graph input 'x': has no shape; give one with --pin-shape x=DIMS")
    r, wrote = translate(build_dir, path, tmp_path, "--pin-shape=x=2x3")
    assert r.returncode == 0 and wrote, r.stderr


def test_non_tensor_input(build_dir, tmp_path):
    # A sequence input needs its length pinned (docs/Import/Sequences.md);
    # a map input is not supported at all.
    seq = helper.make_tensor_sequence_value_info("x", TensorProto.FLOAT, [2])
    expect_error(build_dir, save(relu_model(seq), tmp_path), tmp_path,
                 "graph input 'x' is a sequence; give its length with "
                 "--pin-shape x=seq:N")
    mapped = helper.make_value_info(
        "x", helper.make_map_type_proto(
            TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, [2])))
    expect_error(build_dir, save(relu_model(mapped), tmp_path), tmp_path,
                 "graph input 'x': only tensor inputs are supported")


def test_negative_input_dim(build_dir, tmp_path):
    info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    info.type.tensor_type.shape.dim[1].dim_value = -3
    expect_error(build_dir, save(relu_model(info), tmp_path), tmp_path,
                 "graph input 'x': has a negative dimension (-3)")


def test_pin_shape_rank_and_syntax(build_dir, tmp_path):
    path = save(small_valid_model(), tmp_path)
    expect_error(build_dir, path, tmp_path,
                 "--pin-shape gives rank 3, the model declares rank 2",
                 "--pin-shape=x=4x2x1")
    expect_error(build_dir, path, tmp_path,
                 "--pin-shape x=4xa: 'a' is not a non-negative dimension",
                 "--pin-shape=x=4xa")
    expect_error(build_dir, path, tmp_path,
                 "--pin-shape expects NAME=DxDxD, got 'x'", "--pin-shape=x")
    expect_error(build_dir, path, tmp_path,
                 "--pin-dim expects NAME=N, got 'batch=-1'",
                 "--pin-dim=batch=-1")


def test_pin_dim_makes_symbolic_dim_static(build_dir, tmp_path):
    path = save(relu_model(helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["batch", 3])), tmp_path)
    r, _ = translate(build_dir, path, tmp_path, "--pin-dim=batch=5")
    assert r.returncode == 0, r.stderr
    text = open(os.path.join(str(tmp_path), "out.mlir")).read()
    assert "tensor<5x3xf32>" in text and 'onnx.dim_params = ["batch", ""]' in text
    r, _ = translate(build_dir, path, tmp_path)
    text = open(os.path.join(str(tmp_path), "out.mlir")).read()
    assert "tensor<?x3xf32>" in text


def test_dim_value_minus_one_is_an_unknown_dim(build_dir, tmp_path):
    # Paddle exports declare the batch dim as dim_value -1; onnxruntime
    # reads it as unknown, so do we (it used to be refused as negative).
    info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    info.type.tensor_type.shape.dim[0].dim_value = -1
    path = save(relu_model(info), tmp_path)
    r, wrote = translate(build_dir, path, tmp_path)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(str(tmp_path), "out.mlir")) as f:
        assert "tensor<?x3xf32>" in f.read()
    # ... and it can be pinned.
    r, wrote = translate(build_dir, path, tmp_path, "--pin-shape", "x=4x3")
    assert r.returncode == 0, r.stderr
    with open(os.path.join(str(tmp_path), "out.mlir")) as f:
        assert "tensor<4x3xf32>" in f.read()

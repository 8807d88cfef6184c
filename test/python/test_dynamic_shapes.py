"""Dynamic batch and sequence end to end: graphs with the shape computations
torch.onnx writes for Llama, Qwen2, Mistral, GPT-2, BERT and ViT
(dynamic_models.py) are compiled ONCE by quant-compile without pinning, and
the one artifact is run by quant-run at several sequence lengths and batch
sizes against onnxruntime."""

import os
import subprocess

import numpy as np
import onnx
import pytest

import dynamic_models as dm
from test_artifacts import onnxruntime_run, quant_run

SEQ_LENS = (1, 5, 19)
BATCHES = (1, 3)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, build_dir):
    """{name: (model path, artifact path)}, compiled on first use."""
    root = tmp_path_factory.mktemp("dynamic")
    cache = {}

    def get(name):
        if name not in cache:
            model = os.path.join(root, name + ".onnx")
            onnx.save(dm.MODELS[name](), model)
            so = os.path.join(root, name + ".so")
            res = subprocess.run([os.path.join(build_dir, "bin",
                                               "quant-compile"), model,
                                  "-o", so], capture_output=True, text=True)
            assert res.returncode == 0, res.stderr
            cache[name] = (model, so)
        return cache[name]
    return get


def assert_close(ours, ref):
    assert set(ours) == set(ref)
    for name, want in ref.items():
        assert ours[name].shape == want.shape, name
        np.testing.assert_allclose(ours[name], want, rtol=1e-5, atol=1e-5,
                                   err_msg=name)


@pytest.mark.parametrize("name", sorted(dm.MODELS))
def test_one_artifact_every_sequence_length(compiled, build_dir, tmp_path,
                                            name):
    model, so = compiled(name)
    shapes = [(b, s) for b in BATCHES for s in SEQ_LENS]
    if name == "vit":  # the sequence is fixed by the image size
        shapes = [(b, 0) for b in (1, 2, 5)]
    for batch, seq in shapes:
        inputs = dm.inputs_for(name, batch, seq)
        out = tmp_path / f"{batch}_{seq}"
        out.mkdir()
        assert_close(quant_run(build_dir, so, inputs, out),
                     onnxruntime_run(model, inputs))


def test_python_api_signature_and_several_lengths(compiled):
    """The quant_opt package reads batch and sequence as named dynamic dims
    from the artifact's signature and runs it at several sequence
    lengths."""
    quant_opt = pytest.importorskip("quant_opt")
    model, so = compiled("gpt2")
    art = quant_opt.load(so)
    assert tuple(art.inputs[0].shape) == ("batch", "sequence")
    assert tuple(art.outputs[0].shape) == ("batch", "sequence", dm.HIDDEN)
    for seq in (2, 9, 30):
        inputs = dm.inputs_for("gpt2", 2, seq)
        assert_close(art(**inputs), onnxruntime_run(model, inputs))


def test_pinned_dims_still_compile_static(tmp_path, build_dir):
    """--pin-dim keeps the static path: the imported main has no dynamic
    dim and the shape computations fold to constants."""
    model = os.path.join(tmp_path, "llama.onnx")
    onnx.save(dm.MODELS["llama"](), model)
    res = subprocess.run([os.path.join(build_dir, "bin", "quant-translate"),
                          "--import-onnx", model, "--pin-dim", "batch=2",
                          "--pin-dim", "sequence=7"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "?" not in res.stdout.split("func.func @main", 1)[1].split("{")[0]
    assert "tensor.from_elements" not in res.stdout
    assert "tensor.dim" not in res.stdout


def assert_run_fails(build_dir, so, inputs, tmp_path, error):
    """quant-run of `so` on `inputs` exits non-zero saying `error`."""
    args = [os.path.join(build_dir, "bin", "quant-run"), so]
    for name, arr in inputs.items():
        np.save(tmp_path / f"{name}.npy", arr)
        args += ["--input", f"{name}={tmp_path / (name + '.npy')}"]
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode != 0
    assert error in res.stderr, res.stderr


def data_shape_model():
    """Shapes that are graph inputs: read when the model runs."""
    from onnx import TensorProto, helper
    nodes = [helper.make_node("Reshape", ["x", "s"], ["y"]),
             helper.make_node("ConstantOfShape", ["s"], ["z"],
                              value=helper.make_tensor("v", TensorProto.FLOAT,
                                                       [1], [2.5])),
             helper.make_node("Range", ["start", "limit", "delta"], ["r"])]
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes, "g",
        [vi("x", TensorProto.FLOAT, [6]), vi("s", TensorProto.INT64, [2]),
         vi("limit", TensorProto.INT64, [])],
        [vi("y", TensorProto.FLOAT, None), vi("z", TensorProto.FLOAT, None),
         vi("r", TensorProto.INT64, None)],
        [onnx.numpy_helper.from_array(np.array(1, np.int64), "start"),
         onnx.numpy_helper.from_array(np.array(2, np.int64), "delta")])
    return onnx.helper.make_model(graph, opset_imports=[
        onnx.helper.make_opsetid("", 18)], ir_version=8)


@pytest.mark.parametrize("shape,limit,error", [
    ([3, 2], 8, None),
    ([6, 1], -3, None),
    ([4, 4], 8, "does not hold as many elements"),
    ([-1, -6], 8, "an entry below -1"),
    ([1 << 32, 1 << 32], 8, "over 2^48 elements"),
    ([3, 2], 1 << 62, "over 2^48 elements"),
])
def test_data_dependent_shapes_are_checked(build_dir, tmp_path, shape, limit,
                                           error):
    """Reshape, ConstantOfShape and Range sized by graph inputs: right
    results, and a run-time error naming the node (never a wrapped size)
    for shapes that do not fit."""
    model = str(tmp_path / "m.onnx")
    onnx.save(data_shape_model(), model)
    so = str(tmp_path / "m.so")
    subprocess.run([os.path.join(build_dir, "bin", "quant-compile"), model,
                    "-o", so], check=True)
    inputs = {"x": np.arange(6, dtype=np.float32),
              "s": np.array(shape, np.int64),
              "limit": np.array(limit, np.int64)}
    if error is None:
        ref = onnxruntime_run(model, inputs)
        got = quant_run(build_dir, so, inputs, tmp_path)
        assert_close(got, ref)
        return
    assert_run_fails(build_dir, so, inputs, tmp_path, error)


@pytest.mark.parametrize("shape,error", [
    ([-1, 3], None), ([3, -1], None), ([0, -1], None), ([1, -1, 2], None),
    ([-1, -1], "more than one -1"), ([-2, 3], "an entry below -1"),
    ([-1, 0], "the other entries hold no elements"),
    ([4, -1], "does not hold as many elements"),
])
def test_reshape_infers_a_run_time_minus_one(build_dir, tmp_path, shape,
                                             error):
    """A -1 (and 0) in a shape that is only known when the model runs is
    inferred there, as onnxruntime does (the ONNX backend's
    test_reshape_negative_dim family feeds the shape as an input)."""
    from onnx import TensorProto, helper
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "s"], ["y"])], "g",
        [vi("x", TensorProto.FLOAT, [6]),
         vi("s", TensorProto.INT64, [len(shape)])],
        [vi("y", TensorProto.FLOAT, None)])
    model = str(tmp_path / "m.onnx")
    onnx.save(helper.make_model(graph, ir_version=8, opset_imports=[
        helper.make_opsetid("", 18)]), model)
    so = str(tmp_path / "m.so")
    subprocess.run([os.path.join(build_dir, "bin", "quant-compile"), model,
                    "-o", so], check=True)
    inputs = {"x": np.arange(6, dtype=np.float32),
              "s": np.array(shape, np.int64)}
    if error is None:
        assert_close(quant_run(build_dir, so, inputs, tmp_path),
                     onnxruntime_run(model, inputs))
        return
    with pytest.raises(Exception):
        onnxruntime_run(model, inputs)
    assert_run_fails(build_dir, so, inputs, tmp_path, error)


@pytest.mark.parametrize("name", sorted(dm.MODELS))
def test_nvptx_artifact_is_dynamic_too(build_dir, tmp_path, name):
    """--target=nvptx compiles the same graphs with dynamic dims; on a
    machine with a CUDA device one artifact runs at two sequence lengths
    (skipped, saying why, without one)."""
    model = str(tmp_path / f"{name}.onnx")
    onnx.save(dm.MODELS[name](), model)
    so = str(tmp_path / f"{name}.gpu.so")
    res = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                          model, "--target=nvptx", "-o", so],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    for batch, seq in ((1, 3), (2, 17)):
        inputs = dm.inputs_for(name, batch, seq)
        out = tmp_path / f"{batch}_{seq}"
        out.mkdir()
        args = [os.path.join(build_dir, "bin", "quant-run"), so,
                "--device=cuda", "--output-dir", str(out)]
        for k, v in inputs.items():
            np.save(out / f"in_{k}.npy", v)
            args += ["--input", f"{k}={out / f'in_{k}.npy'}"]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            assert "--device=cuda:" in r.stderr, r.stderr
            pytest.skip("no CUDA device: " + r.stderr.strip())
        ref = onnxruntime_run(model, inputs)
        for k, want in ref.items():
            np.testing.assert_allclose(np.load(out / f"{k}.npy"), want,
                                       rtol=1e-4, atol=1e-4, err_msg=k)

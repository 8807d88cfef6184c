"""The runtime level: quant_opt.load / Artifact over libqopt_runtime,
checked against onnxruntime on artifacts quant-compile wrote."""

import gc
import os
import threading

import numpy as np
import onnx
import pytest

import quant_opt
from qopt_testutil import mlp_model, onnxruntime_run, quant_compile


def test_runs_like_onnxruntime(mlp):
    model, so = mlp
    art = quant_opt.load(so)
    for batch in (1, 3, 17):
        x = np.random.default_rng(batch).standard_normal((batch, 16)).astype(np.float32)
        ours = art(x=x)
        ref = onnxruntime_run(model, {"x": x})
        assert set(ours) == {"y"}
        assert ours["y"].dtype == np.float32 and ours["y"].shape == (batch, 8)
        np.testing.assert_allclose(ours["y"], ref["y"], rtol=1e-5, atol=1e-5)


def test_signature(mlp):
    art = quant_opt.load(mlp[1])
    assert art.target == "cpu"
    assert [(t.name, t.dtype, t.shape) for t in art.inputs] == [
        ("x", "float32", ("batch", 16))]
    assert [(t.name, t.dtype, t.shape) for t in art.outputs] == [
        ("y", "float32", ("batch", 8))]
    assert art.inputs[0].numpy_dtype == np.float32
    assert art.adapters == []
    assert "input  x: float32[batch,16]" in art.signature
    assert "x: float32[batch,16]" in repr(art)


def test_positional_mapping_lists_and_non_contiguous(mlp):
    model, so = mlp
    art = quant_opt.load(so)
    x = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32).T
    assert not x.flags["C_CONTIGUOUS"]  # converted (copied), still right
    ref = onnxruntime_run(model, {"x": np.ascontiguousarray(x)})["y"]
    for out in (art(x), art.run({"x": x}), art(x=x.tolist())):
        np.testing.assert_allclose(out["y"], ref, rtol=1e-5, atol=1e-5)


def test_inputs_are_never_written(mlp, tmp_path, build_dir):
    """Inputs go in as views of the caller's memory: the compiled code must
    not update them in place, even where bufferization could (a single-use
    input of an element-wise op)."""
    from onnx import TensorProto, helper
    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"]),],
        "relu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [64])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
              tmp_path / "relu.onnx")
    art = quant_opt.load(quant_compile(build_dir, tmp_path / "relu.onnx",
                                       tmp_path / "relu.so"))
    x = np.linspace(-1, 1, 64, dtype=np.float32)
    before = x.copy()
    y = art(x=x)["y"]
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(y, np.maximum(before, 0))
    x.setflags(write=False)  # read-only arrays are accepted too
    np.testing.assert_array_equal(art(x=x)["y"], y)


class DLPackOnly:
    """An object that offers nothing but the DLPack protocol."""

    def __init__(self, array):
        self._a = array

    def __dlpack__(self, **kwargs):
        return self._a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


def test_dlpack_inputs(mlp):
    model, so = mlp
    art = quant_opt.load(so)
    x = np.random.default_rng(4).standard_normal((2, 16)).astype(np.float32)
    out = art(x=DLPackOnly(x))
    np.testing.assert_allclose(out["y"], onnxruntime_run(model, {"x": x})["y"],
                               rtol=1e-5, atol=1e-5)


def test_outputs_outlive_the_artifact(mlp):
    art = quant_opt.load(mlp[1])
    x = np.ones((2, 16), np.float32)
    y = art(x=x)["y"]
    want = y.copy()
    del art
    gc.collect()
    np.testing.assert_array_equal(y, want)
    y += 1  # the arrays are writable, owned by numpy now
    np.testing.assert_array_equal(y, want + 1)


def test_input_errors_name_the_signature(mlp):
    art = quant_opt.load(mlp[1])
    x = np.ones((2, 16), np.float32)
    with pytest.raises(quant_opt.InputError, match=r"(?s)has float64\[2,16\], "
                       r"expected float32\[batch,16\].*expected signature"):
        art(x=x.astype(np.float64))
    with pytest.raises(quant_opt.InputError, match=r"has float32\[2,15\]"):
        art(x=np.ones((2, 15), np.float32))
    with pytest.raises(quant_opt.InputError, match="missing input"):
        art()
    with pytest.raises(quant_opt.InputError, match="no input 'z'"):
        art(x=x, z=x)
    with pytest.raises(quant_opt.InputError, match="given twice"):
        art(x, x=x)
    with pytest.raises(quant_opt.InputError, match="no switchable adapters"):
        art(x=x, adapter="sql")
    # InputError is a ValueError and a quant_opt.Error.
    with pytest.raises(ValueError):
        art(x=np.ones((2, 15), np.float32))
    with pytest.raises(quant_opt.Error):
        art(x=np.ones((2, 15), np.float32))


def test_load_errors(tmp_path):
    with pytest.raises(quant_opt.LoadError, match="cannot load artifact"):
        quant_opt.load(tmp_path / "missing.so")
    (tmp_path / "junk.so").write_bytes(b"not an ELF file")
    with pytest.raises(quant_opt.LoadError, match="cannot load artifact"):
        quant_opt.load(tmp_path / "junk.so")
    # A real shared library that is no artifact.
    import quant_opt._runtime as rt
    with pytest.raises(quant_opt.LoadError, match="not a quant-opt artifact"):
        quant_opt.load(rt.runtime_path())


def test_threads_share_one_artifact(mlp):
    """Several Python threads call one artifact at once (the GIL is released
    while it runs); every result matches onnxruntime's for its input."""
    model, so = mlp
    art = quant_opt.load(so)
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal((1 + i % 5, 16)).astype(np.float32) for i in range(8)]
    refs = [onnxruntime_run(model, {"x": x})["y"] for x in xs]
    errors = []
    barrier = threading.Barrier(len(xs))

    def work(i):
        try:
            barrier.wait()
            for _ in range(25):
                y = art(x=xs[i])["y"]
                np.testing.assert_allclose(y, refs[i], rtol=1e-5, atol=1e-5)
        except Exception as e:  # reported below, on the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_benchmark(mlp):
    art = quant_opt.load(mlp[1])
    with pytest.raises(quant_opt.InputError, match="dynamic shape"):
        art.benchmark(runs=2)
    stats = art.benchmark({"x": np.ones((4, 16), np.float32)}, runs=7, warmup=1)
    assert stats["runs"] == 7 and len(stats["times_ms"]) == 7
    assert stats["min_ms"] <= stats["median_ms"] <= stats["max_ms"]
    assert all(t > 0 for t in stats["times_ms"])
    with pytest.raises(quant_opt.InputError, match="runs must be"):
        art.benchmark({"x": np.ones((4, 16), np.float32)}, runs=0)


def test_save_copies_the_library(mlp, tmp_path):
    art = quant_opt.load(mlp[1])
    art.save(tmp_path / "copy.so")
    again = quant_opt.load(tmp_path / "copy.so")
    x = np.ones((1, 16), np.float32)
    np.testing.assert_array_equal(again(x=x)["y"], art(x=x)["y"])


def test_input_names_that_are_not_identifiers(tmp_path, build_dir):
    model = mlp_model(input_name="input.1")
    onnx.save(model, tmp_path / "m.onnx")
    art = quant_opt.load(quant_compile(build_dir, tmp_path / "m.onnx",
                                       tmp_path / "m.so"))
    x = np.ones((2, 16), np.float32)
    ref = onnxruntime_run(model, {"input.1": x})["y"]
    np.testing.assert_allclose(art.run({"input.1": x})["y"], ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(art(**{"input.1": x})["y"], ref, rtol=1e-5, atol=1e-5)

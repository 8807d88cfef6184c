"""Compiled artifacts against onnxruntime: the bundled example models are
compiled with quant-compile (dynamic batch/sequence kept), run with
quant-run on held-back inputs and on other shapes, and compared with
onnxruntime's CPU execution provider."""

import os
import subprocess

import numpy as np
import onnxruntime as ort
import pytest

import make_examples

MODELS = {"transformer": "hidden_states", "mlp": "input", "cnn": "image"}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, build_dir):
    root = tmp_path_factory.mktemp("artifacts")
    compiled = {}
    for name in MODELS:
        make_examples.write_model(str(root), name, calib=1, eval_=3)
        model = os.path.join(root, name, "model.onnx")
        so = os.path.join(root, name + ".so")
        subprocess.run([os.path.join(build_dir, "bin", "quant-compile"), model,
                        "-o", so], check=True)
        compiled[name] = (model, so)
    return root, compiled


def quant_run(build_dir, so, inputs, tmp, threads=None):
    """Runs `so` on {name: array}; returns {output name: array}."""
    args = [os.path.join(build_dir, "bin", "quant-run"), so, "--output-dir",
            str(tmp)]
    for name, arr in inputs.items():
        path = os.path.join(tmp, f"in_{name}.npy")
        np.save(path, arr)
        args += ["--input", f"{name}={path}"]
    if threads:
        args += ["--threads", str(threads)]
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    outs = {}
    for line in res.stdout.splitlines():
        if line.startswith("output "):
            name = line.split()[1].rstrip(":")
            outs[name] = np.load(os.path.join(tmp, name + ".npy"))
    return outs


def onnxruntime_run(model, inputs):
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, inputs)))


def assert_close(ours, ref):
    assert set(ours) == set(ref)
    for name, want in ref.items():
        assert ours[name].shape == want.shape, name
        assert ours[name].dtype == want.dtype, name
        np.testing.assert_allclose(ours[name], want, rtol=1e-4, atol=1e-5,
                                   err_msg=name)


@pytest.mark.parametrize("name", list(MODELS))
def test_eval_samples_match_onnxruntime(artifacts, build_dir, tmp_path, name):
    root, compiled = artifacts
    model, so = compiled[name]
    eval_dir = os.path.join(root, name, "eval")
    for sample in sorted(os.listdir(eval_dir)):
        inputs = {MODELS[name]: np.load(os.path.join(
            eval_dir, sample, MODELS[name] + ".npy"))}
        out = tmp_path / sample
        out.mkdir()
        assert_close(quant_run(build_dir, so, inputs, out),
                     onnxruntime_run(model, inputs))


@pytest.mark.parametrize("shape", [(1, 1, 64), (2, 7, 64), (3, 33, 64)])
def test_transformer_dynamic_shapes(artifacts, build_dir, tmp_path, shape):
    """One artifact, any batch and sequence length."""
    _, compiled = artifacts
    model, so = compiled["transformer"]
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(
        np.float32)
    inputs = {"hidden_states": x}
    assert_close(quant_run(build_dir, so, inputs, tmp_path),
                 onnxruntime_run(model, inputs))


@pytest.mark.parametrize("batch", [1, 5, 64])
def test_mlp_and_cnn_dynamic_batch(artifacts, build_dir, tmp_path, batch):
    _, compiled = artifacts
    rng = np.random.default_rng(batch)
    for name, shape in (("mlp", (batch, 256)), ("cnn", (batch, 3, 32, 32))):
        inputs = {MODELS[name]: rng.standard_normal(shape).astype(np.float32)}
        out = tmp_path / name
        out.mkdir()
        model, so = compiled[name]
        assert_close(quant_run(build_dir, so, inputs, out),
                     onnxruntime_run(model, inputs))


def test_results_do_not_depend_on_the_thread_count(artifacts, build_dir,
                                                   tmp_path):
    """Kernels sum in a fixed order: 1 and 2 threads give identical bits."""
    _, compiled = artifacts
    rng = np.random.default_rng(7)
    for name, shape in (("transformer", (4, 40, 64)), ("mlp", (96, 256)),
                        ("cnn", (3, 3, 32, 32))):
        inputs = {MODELS[name]: rng.standard_normal(shape).astype(np.float32)}
        runs = []
        for threads in (1, 2):
            out = tmp_path / f"{name}_{threads}"
            out.mkdir()
            runs.append(quant_run(build_dir, compiled[name][1], inputs, out,
                                  threads))
        for key in runs[0]:
            assert np.array_equal(runs[0][key], runs[1][key]), (name, key)


def test_parallel_loops_artifact(artifacts, build_dir, tmp_path):
    """--parallel-loops: generated loops run on the thread pool too (async
    lowering); same results as onnxruntime, with 1 and 2 threads."""
    root, compiled = artifacts
    model = compiled["transformer"][0]
    so = os.path.join(tmp_path, "par.so")
    subprocess.run([os.path.join(build_dir, "bin", "quant-compile"), model,
                    "--parallel-loops", "-o", so], check=True)
    x = np.random.default_rng(3).standard_normal((2, 70, 64)).astype(
        np.float32)
    ref = onnxruntime_run(model, {"hidden_states": x})
    for threads in (1, 2):
        out = tmp_path / f"t{threads}"
        out.mkdir()
        assert_close(quant_run(build_dir, so, {"hidden_states": x}, out,
                               threads), ref)

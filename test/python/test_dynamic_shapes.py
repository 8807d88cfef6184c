"""Dynamic batch and sequence end to end: graphs with the shape computations
torch.onnx writes for Llama, Qwen2, Mistral, GPT-2, BERT and ViT
(dynamic_models.py) are compiled ONCE by quant-compile without pinning, and
the one artifact is run by quant-run at several sequence lengths and batch
sizes against onnxruntime."""

import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import dynamic_models as dm

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


def quant_run(build_dir, so, inputs, tmp):
    args = [os.path.join(build_dir, "bin", "quant-run"), so, "--output-dir",
            str(tmp)]
    for name, arr in inputs.items():
        path = os.path.join(tmp, f"in_{name}.npy")
        np.save(path, arr)
        args += ["--input", f"{name}={path}"]
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

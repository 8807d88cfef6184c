"""Artifact.run_device: a CUDA artifact on CUDA DLPack tensors without host
transfers (qopt_cuda_model_run). Without a GPU (CI) the refusals are
checked: a CPU artifact, host arrays. With a GPU and torch, torch CUDA
tensors in and out match the ordinary call."""

import numpy as np
import onnx
import pytest

import quant_opt
from quant_opt import InputError
from qopt_testutil import quant_compile


@pytest.fixture(scope="module")
def gpu_artifact(mlp, tmp_path_factory, build_dir):
    model, _ = mlp
    root = tmp_path_factory.mktemp("mlp_gpu")
    onnx.save(model, root / "mlp.onnx")
    return quant_opt.load(quant_compile(build_dir, root / "mlp.onnx",
                                        root / "mlp_gpu.so", "--target=nvptx",
                                        "--gpu-arch=sm_90"))


def test_cpu_artifact_is_refused(mlp):
    art = quant_opt.load(mlp[1])
    x = np.zeros((2, 16), np.float32)
    with pytest.raises(InputError, match="runs on the CPU"):
        art.run_device({"x": x})


def test_host_arrays_are_refused(gpu_artifact):
    assert gpu_artifact.target == "cuda"
    with pytest.raises(InputError, match="not CUDA memory"):
        gpu_artifact.run_device({"x": np.zeros((2, 16), np.float32)})
    with pytest.raises(InputError, match="missing input"):
        gpu_artifact.run_device({})


def test_torch_cuda_tensors(gpu_artifact):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    x = torch.randn(5, 16, device="cuda")
    ref = gpu_artifact(x=x.cpu().numpy())["y"]
    out = gpu_artifact.run_device({"x": x})["y"]
    assert isinstance(out, torch.Tensor) and out.is_cuda
    assert tuple(out.shape) == (5, 8)
    np.testing.assert_allclose(out.cpu().numpy(), ref, rtol=1e-5, atol=1e-6)
    # Ordered after work queued on the caller's stream.
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        x2 = x * 2
        out2 = gpu_artifact.run_device({"x": x2})["y"]
    np.testing.assert_allclose(out2.cpu().numpy(),
                               gpu_artifact(x=x2.cpu().numpy())["y"],
                               rtol=1e-5, atol=1e-6)
    torch.cuda.current_stream().wait_stream(s)
    # Into the caller's tensor (poisoned first).
    y = torch.full((5, 8), float("nan"), device="cuda")
    got = gpu_artifact.run_device({"x": x}, out={"y": y})
    assert got["y"] is y
    np.testing.assert_allclose(y.cpu().numpy(), ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="out= must name every output"):
        gpu_artifact.run_device({"x": x}, out={})

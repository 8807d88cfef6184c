"""quant-compile --target=nvptx: the bundled models (float and quantized)
compile to artifacts with PTX kernels for the requested architecture; with
a GPU they run with quant-run --device=cuda and match the CPU artifact,
without one quant-run says why (test/gpu/check_models.py is the full GPU
check, results in test/gpu/results/)."""

import os
import subprocess

import numpy as np
import pytest

import make_examples


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    root = tmp_path_factory.mktemp("nvptx")
    make_examples.write_model(str(root), "mlp", calib=4, eval_=1)
    return root / "mlp"


def tool(build_dir, name, *args):
    return subprocess.run([os.path.join(build_dir, "bin", name),
                           *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("scheme", [None, "w8a8"])
def test_compiles_ptx_kernels(build_dir, example, tmp_path, arch, scheme):
    flags = [] if scheme is None else [
        f"--quantize={scheme}", f"--calibration-data={example / 'calibration'}"]
    out = tmp_path / "m.mlir"
    r = tool(build_dir, "quant-compile", example / "model.onnx", "--target=nvptx",
             f"--gpu-arch={arch}", "--emit=mlir", "-o", out, *flags)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert f'chip = "{arch}"' in text and f".target {arch}" in text
    assert "gpu.launch_func" in text and "target cuda" in text
    so = tmp_path / "m.so"
    r = tool(build_dir, "quant-compile", example / "model.onnx", "--target=nvptx",
             f"--gpu-arch={arch}", "-o", so, *flags)
    assert r.returncode == 0, r.stderr
    undefined = subprocess.run(["nm", "-D", "--undefined-only", str(so)],
                               capture_output=True, text=True).stdout
    assert "mgpuLaunchKernel" in undefined and "mgpuModuleLoadJIT" in undefined


def test_runs_on_gpu_or_says_why(build_dir, example, tmp_path):
    model = example / "model.onnx"
    gpu_so, cpu_so = tmp_path / "g.so", tmp_path / "c.so"
    assert tool(build_dir, "quant-compile", model, "--target=nvptx", "-o",
                gpu_so).returncode == 0
    assert tool(build_dir, "quant-compile", model, "-o", cpu_so).returncode == 0
    sample = sorted(os.listdir(example / "eval"))[0]
    x = example / "eval" / sample / "input.npy"
    r = tool(build_dir, "quant-run", gpu_so, "--device=cuda", "--input",
             f"input={x}", "--output-dir", tmp_path / "g")
    if r.returncode != 0:
        assert "--device=cuda:" in r.stderr and "Segmentation" not in r.stderr
        pytest.skip("no CUDA device: " + r.stderr.strip())
    assert tool(build_dir, "quant-run", cpu_so, "--input", f"input={x}",
                "--output-dir", tmp_path / "c").returncode == 0
    np.testing.assert_allclose(np.load(tmp_path / "g" / "logits.npy"),
                               np.load(tmp_path / "c" / "logits.npy"),
                               rtol=1e-4, atol=1e-5)


def test_errors(build_dir, example, tmp_path):
    model = example / "model.onnx"
    r = tool(build_dir, "quant-compile", model, "--target=nvptx",
             "--gpu-arch=sm_70", "-o", tmp_path / "a.so")
    assert r.returncode != 0 and "--gpu-arch=sm_70: expected" in r.stderr
    r = tool(build_dir, "quant-compile", model, "--target=amdgpu", "-o",
             tmp_path / "a.so")
    assert r.returncode != 0 and "--target=amdgpu is not supported" in r.stderr
    # A CPU run of a GPU artifact is refused with the artifact's target.
    so = tmp_path / "g.so"
    assert tool(build_dir, "quant-compile", model, "--target=nvptx", "-o",
                so).returncode == 0
    r = tool(build_dir, "quant-run", so, "--input", "input=x.npy")
    assert r.returncode != 0 and "compiled for target 'cuda'" in r.stderr

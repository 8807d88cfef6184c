"""quant-compile --target=nvptx: the bundled models (float and quantized)
compile to artifacts with PTX kernels for the requested architecture; with
a GPU they run with quant-run --device=cuda and match the CPU artifact,
without one quant-run says why (test/gpu/check_models.py is the full GPU
check, results in test/gpu/results/)."""

import os
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

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
             f"--gpu-arch={arch}", "--cubin=never", "--emit=mlir", "-o", out,
             *flags)
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
    # Fatbins (cubin + PTX) load with mgpuModuleLoad, PTX alone with
    # mgpuModuleLoadJIT (no ptxas at compile time).
    assert "mgpuLaunchKernel" in undefined and "mgpuModuleLoad" in undefined
    if scheme == "w8a8":
        # int8 linear layers run on the tensor cores.
        ptx = tmp_path / "ptx"
        r = tool(build_dir, "quant-compile", example / "model.onnx",
                 "--target=nvptx", f"--gpu-arch={arch}", f"--emit-ptx={ptx}",
                 "-o", so, *flags)
        assert r.returncode == 0, r.stderr
        text = "".join(f.read_text() for f in ptx.glob("*.ptx"))
        assert "wmma.mma.sync.aligned.row.row.m16n16k16.s32.s8.s8.s32" in text


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
    assert r.returncode != 0 and "for the --gpu-arch option: 'sm_70' is not one of: sm_80, sm_86, sm_89, sm_90" in r.stderr
    r = tool(build_dir, "quant-compile", model, "--target=amdgpu", "-o",
             tmp_path / "a.so")
    assert r.returncode != 0 and "for the --target option: 'amdgpu' is not one of: cpu, nvptx" in r.stderr
    # A CPU run of a GPU artifact is refused with the artifact's target.
    so = tmp_path / "g.so"
    assert tool(build_dir, "quant-compile", model, "--target=nvptx", "-o",
                so).returncode == 0
    r = tool(build_dir, "quant-run", so, "--input", "input=x.npy")
    assert r.returncode != 0 and "compiled for target 'cuda'" in r.stderr


PTXAS = shutil.which("ptxas") or (
    "/usr/local/cuda/bin/ptxas" if os.path.exists("/usr/local/cuda/bin/ptxas")
    else None)


def save_model(path, nodes, inputs, outputs, inits=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]),
              str(path))
    return path


def run_gpu_or_skip(build_dir, so, inputs, out):
    args = ["--device=cuda", "--output-dir", out]
    for k, v in inputs.items():
        args += ["--input", f"{k}={v}"]
    r = tool(build_dir, "quant-run", so, *args)
    if r.returncode != 0:
        assert "--device=cuda:" in r.stderr and "Segmentation" not in r.stderr
        pytest.skip("no CUDA device: " + r.stderr.strip())


def test_cubin_and_emit_ptx(build_dir, example, tmp_path):
    """--emit-ptx writes each kernel module's PTX (which ptxas assembles);
    --cubin=always embeds fatbins (mgpuModuleLoad), --cubin=never PTX
    (mgpuModuleLoadJIT); a missing toolkit is an error only with always."""
    model = example / "model.onnx"
    ptx = tmp_path / "ptx"
    so = tmp_path / "m.so"
    r = tool(build_dir, "quant-compile", model, "--target=nvptx",
             "--cubin=never", f"--emit-ptx={ptx}", "-o", so)
    assert r.returncode == 0, r.stderr
    files = sorted(ptx.glob("*.ptx"))
    assert files and all(".target sm_90" in f.read_text() for f in files)
    undefined = subprocess.run(["nm", "-D", "--undefined-only", str(so)],
                               capture_output=True, text=True).stdout
    assert "mgpuModuleLoadJIT" in undefined
    if PTXAS:
        for f in files:
            a = subprocess.run([PTXAS, "-arch=sm_90", str(f), "-o",
                                str(f) + ".cubin"], capture_output=True, text=True)
            assert a.returncode == 0, a.stderr
        r = tool(build_dir, "quant-compile", model, "--target=nvptx",
                 "--cubin=always", "-o", so)
        assert r.returncode == 0, r.stderr
        undefined = subprocess.run(["nm", "-D", "--undefined-only", str(so)],
                                   capture_output=True, text=True).stdout
        assert "mgpuModuleLoad" in undefined and "mgpuModuleLoadJIT" not in undefined
    r = tool(build_dir, "quant-compile", model, "--target=nvptx",
             "--cubin=always", f"--cuda-toolkit={tmp_path / 'none'}", "-o",
             tmp_path / "x.so")
    assert r.returncode != 0 and "ptxas was not found" in r.stderr
    assert not (tmp_path / "x.so").exists()
    r = tool(build_dir, "quant-compile", model, "--target=nvptx",
             "--cubin=maybe", "-o", tmp_path / "x.so")
    assert r.returncode != 0 and "for the --cubin option: 'maybe' is not one of: auto, always, never" in r.stderr


def test_layer_norm_is_one_kernel(build_dir, tmp_path):
    """Layer norm (mean, variance, normalize) compiles to one kernel with a
    block-wide reduction; with a GPU it matches onnxruntime."""
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(0)
    g = rng.standard_normal(512).astype(np.float32)
    b = rng.standard_normal(512).astype(np.float32)
    model = save_model(
        tmp_path / "ln.onnx",
        [helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 512])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 512])],
        [numpy_helper.from_array(g, "g"), numpy_helper.from_array(b, "b")])
    mlir = tmp_path / "ln.mlir"
    r = tool(build_dir, "quant-compile", model, "--target=nvptx",
             "--cubin=never", "--emit=mlir", "-o", mlir)
    assert r.returncode == 0, r.stderr
    text = mlir.read_text()
    assert text.count("gpu.launch_func") == 1, text.count("gpu.launch_func")
    assert "shfl.sync" in text  # the block reduction's warp shuffles
    so = tmp_path / "ln.so"
    assert tool(build_dir, "quant-compile", model, "--target=nvptx", "-o",
                so).returncode == 0
    x = rng.standard_normal((8, 512)).astype(np.float32) * 2 + 1
    np.save(tmp_path / "x.npy", x)
    run_gpu_or_skip(build_dir, so, {"x": tmp_path / "x.npy"}, tmp_path / "out")
    ref = ort.InferenceSession(str(model)).run(None, {"x": x})[0]
    np.testing.assert_allclose(np.load(tmp_path / "out" / "y.npy"), ref,
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("m,k,n", [(32, 64, 128), (33, 70, 45)])
def test_float16_matmul_on_tensor_cores(build_dir, tmp_path, m, k, n, arch):
    """A float16 MatMul compiles, for sm_80, to a wmma (tensor-core) kernel;
    for sm_90 to a call of the runtime's qopt_cuda_matmul_h16 (its TMA +
    wgmma kernels) and no kernel of its own. With a GPU it matches numpy
    (float64 products, rounded to float16)."""
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((k, n)) * 0.5).astype(np.float16)
    model = save_model(
        tmp_path / "mm.onnx", [helper.make_node("MatMul", ["x", "W"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [m, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [m, n])],
        [numpy_helper.from_array(w, "W")])
    ptx = tmp_path / "ptx"
    so = tmp_path / "mm.so"
    r = tool(build_dir, "quant-compile", model, "--target=nvptx",
             f"--gpu-arch={arch}", f"--emit-ptx={ptx}", "-o", so)
    assert r.returncode == 0, r.stderr
    text = "".join(f.read_text() for f in ptx.glob("*.ptx"))
    if arch == "sm_80":
        assert "wmma.mma.sync.aligned.row.row.m16n16k16.f32.f32" in text
        assert "wmma.load.a.sync.aligned.row.m16n16k16.shared.f16" in text
        assert b"qopt_cuda_matmul_h16" not in so.read_bytes()
    else:
        assert "wmma" not in text
        assert b"qopt_cuda_matmul_h16" in so.read_bytes()
    x = (rng.standard_normal((m, k)) * 0.5).astype(np.float16)
    np.save(tmp_path / "x.npy", x)
    run_gpu_or_skip(build_dir, so, {"x": tmp_path / "x.npy"}, tmp_path / "out")
    ref = x.astype(np.float64) @ w.astype(np.float64)
    got = np.load(tmp_path / "out" / "y.npy").astype(np.float64)
    np.testing.assert_allclose(got, ref, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("precision", ["f32", "tf32", "fma"])
def test_float_matmuls_call_the_runtime(build_dir, example, tmp_path, precision):
    """Float linear layers call qopt_cuda_matmul_f32 (tiled tensor-core
    kernels) with --gpu-precision's value; a bad value is refused."""
    out = tmp_path / "m.mlir"
    r = tool(build_dir, "quant-compile", example / "model.onnx", "--target=nvptx",
             "--cubin=never", f"--gpu-precision={precision}", "--emit=mlir",
             "-o", out)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    calls = [l for l in text.splitlines() if "llvm.call @qopt_cuda_matmul_f32(" in l]
    assert len(calls) == 3  # the MLP's three Gemm layers
    code = {"f32": 0, "tf32": 1, "fma": 2}[precision]
    # The precision is the call's next-to-last operand, an i64 constant.
    prec = calls[0].split("(")[1].split(")")[0].split(", ")[-2]
    assert f"{prec} = llvm.mlir.constant({code} : i64)" in text
    r = tool(build_dir, "quant-compile", example / "model.onnx", "--target=nvptx",
             "--gpu-precision=f16", "-o", tmp_path / "a.so")
    assert r.returncode != 0 and "for the --gpu-precision option: 'f16' is not one of: f32, tf32, fma" in r.stderr


@pytest.mark.parametrize("precision,tol", [("f32", 1e-4), ("tf32", 5e-3), ("fma", 1e-5)])
def test_prune24_calls_the_sparse_kernel(build_dir, example, tmp_path, precision, tol):
    """--prune=2:4 layers call qopt_cuda_matmul_sparse24_f32 (mma.sp) with
    their packed values and positions and --gpu-precision's value (no dense
    float matmul left); with a GPU the artifact matches the CPU one (the
    AVX-512 2:4 kernel on the same weights): f32 (bf16 hi + lo) to 1e-4,
    tf32 (one f16 product) to 5e-3, fma to 1e-5."""
    model = example / "model.onnx"
    out = tmp_path / "m.mlir"
    r = tool(build_dir, "quant-compile", model, "--target=nvptx", "--cubin=never",
             "--prune=2:4", f"--gpu-precision={precision}", "--emit=mlir", "-o", out)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    calls = [l for l in text.splitlines()
             if "llvm.call @qopt_cuda_matmul_sparse24_f32(" in l]
    assert len(calls) == 3  # the MLP's three Gemm layers
    assert "llvm.call @qopt_cuda_matmul_f32(" not in text
    prec = calls[0].split("(")[1].split(")")[0].split(", ")[-2]
    code = {"f32": 0, "tf32": 1, "fma": 2}[precision]
    assert f"{prec} = llvm.mlir.constant({code} : i64)" in text
    gpu_so, cpu_so = tmp_path / "g.so", tmp_path / "c.so"
    assert tool(build_dir, "quant-compile", model, "--target=nvptx", "--prune=2:4",
                f"--gpu-precision={precision}", "-o", gpu_so).returncode == 0
    assert tool(build_dir, "quant-compile", model, "--prune=2:4",
                "-o", cpu_so).returncode == 0
    sample = sorted(os.listdir(example / "eval"))[0]
    x = example / "eval" / sample / "input.npy"
    run_gpu_or_skip(build_dir, gpu_so, {"input": x}, tmp_path / "g")
    assert tool(build_dir, "quant-run", cpu_so, "--input", f"input={x}",
                "--output-dir", tmp_path / "c").returncode == 0
    got = np.load(tmp_path / "g" / "logits.npy").astype(np.float64)
    ref = np.load(tmp_path / "c" / "logits.npy").astype(np.float64)
    assert np.abs(got - ref).max() <= tol * max(1.0, np.abs(ref).max())

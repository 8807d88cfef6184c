"""2-D pools through qopt_kernel_pool2d_f32 (lib/Conversion/KernelCalls/
PoolKernelCalls.cpp, lib/Runtime/PoolKernels.cpp): MaxPool (with the ReLU
before it fused in) and AveragePool's sum over NCHW f32, compiled models
against onnxruntime, bit for bit against the generated loops of a
--no-kernels build (NaN and signed zeros included), and the number of pool
calls in the artifact's code. Also examples/make_examples.py's cnn."""

import os
import subprocess
import sys

import numpy as np
import pytest

from test_conv_epilogue import Graph, compile_and_run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
POOL = "llvm.call @qopt_kernel_pool2d_f32"


def run_artifact(build_dir, model, x, tmp, extra=()):
    """Outputs of `model` compiled with `extra` flags."""
    os.makedirs(tmp, exist_ok=True)
    so = os.path.join(tmp, "m.so")
    subprocess.run([os.path.join(build_dir, "bin", "quant-compile"), model,
                    "-o", so, *extra], check=True)
    np.save(os.path.join(tmp, "x.npy"), x)
    out = os.path.join(tmp, "out")
    subprocess.run([os.path.join(build_dir, "bin", "quant-run"), so,
                    "--input", f"x={tmp}/x.npy", "--output-dir", out,
                    "--threads", "2"], check=True, capture_output=True)
    return {f[:-4]: np.load(os.path.join(out, f)) for f in os.listdir(out)}


MAX_CASES = [
    dict(kernel_shape=[2, 2], strides=[2, 2]),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    dict(kernel_shape=[3, 3], strides=[1, 1]),
    dict(kernel_shape=[2, 3], strides=[1, 3], dilations=[2, 1]),
    dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
]


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("case", range(len(MAX_CASES)))
def test_maxpool_vs_onnxruntime(build_dir, tmp_path, case, relu):
    g = Graph(1)
    x = g.op("Relu", ["x"]) if relu else "x"
    y = g.op("MaxPool", [x], **MAX_CASES[case])
    model = g.save(tmp_path / "m.onnx", [2, 5, 17, 33], [y])
    x = np.random.default_rng(2).normal(size=(2, 5, 17, 33)).astype(
        np.float32)
    ours, ref, mlir = compile_and_run(build_dir, model, x, str(tmp_path))
    np.testing.assert_array_equal(ours[y], ref[y])
    assert mlir.count(POOL) == 1


@pytest.mark.parametrize("case", [
    dict(kernel_shape=[2, 2], strides=[2, 2]),
    dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
         count_include_pad=1),
])
def test_averagepool_vs_onnxruntime(build_dir, tmp_path, case):
    g = Graph(1)
    y = g.op("AveragePool", ["x"], **case)
    model = g.save(tmp_path / "m.onnx", [1, 6, 16, 20], [y])
    x = np.random.default_rng(3).normal(size=(1, 6, 16, 20)).astype(
        np.float32)
    ours, ref, mlir = compile_and_run(build_dir, model, x, str(tmp_path))
    np.testing.assert_allclose(ours[y], ref[y], rtol=1e-6, atol=1e-6)
    assert mlir.count(POOL) == 1


def test_bitwise_vs_generated_loops(build_dir, tmp_path):
    """Relu -> MaxPool and AveragePool on data with NaNs and zeros of both
    signs: the kernel's results are the --no-kernels loops' bit for bit
    (NaN where they give NaN)."""
    g = Graph(4)
    a = g.op("MaxPool", [g.op("Relu", ["x"])], kernel_shape=[2, 2],
             strides=[2, 2])
    b = g.op("MaxPool", ["x"], kernel_shape=[3, 3], strides=[1, 1])
    c = g.op("AveragePool", ["x"], kernel_shape=[2, 2], strides=[2, 2])
    model = str(g.save(tmp_path / "m.onnx", [1, 4, 32, 32], [a, b, c]))
    x = np.random.default_rng(5).normal(size=(1, 4, 32, 32)).astype(
        np.float32)
    flat = x.reshape(-1)
    flat[::11] = np.nan
    flat[3::13] = -0.0
    flat[5::17] = 0.0
    ours = run_artifact(build_dir, model, x, str(tmp_path / "k"))
    loops = run_artifact(build_dir, model, x, str(tmp_path / "l"),
                         ["--no-kernels"])
    for name in (a, b, c):
        got, want = ours[name], loops[name]
        assert np.isnan(want).any(), name
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want),
                                      err_msg=name)
        ok = ~np.isnan(want)
        np.testing.assert_array_equal(got[ok].view(np.uint32),
                                      want[ok].view(np.uint32), err_msg=name)
    mlir = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                           model, "--emit=mlir", "-o", "-"], check=True,
                          capture_output=True, text=True).stdout
    assert mlir.count(POOL) == 3


def test_cnn_example(build_dir, tmp_path):
    """examples/make_examples.py's cnn (conv + BN + ReLU + 2x2 MaxPool
    twice) against onnxruntime: both pools are kernel calls."""
    subprocess.run([sys.executable, os.path.join(ROOT, "examples",
                                                 "make_examples.py"),
                    "--out", str(tmp_path), "--models", "cnn"], check=True,
                   capture_output=True)
    import onnx
    path = os.path.join(str(tmp_path), "cnn", "model.onnx")
    m = onnx.load(path)
    m.graph.input[0].name = "x"
    for node in m.graph.node:
        node.input[:] = ["x" if i == "image" else i for i in node.input]
    model = os.path.join(str(tmp_path), "m.onnx")
    onnx.save(m, model)
    x = np.random.default_rng(9).normal(size=(2, 3, 32, 32)).astype(
        np.float32)
    ours, ref, mlir = compile_and_run(build_dir, model, x, str(tmp_path))
    (name, want), = ref.items()
    np.testing.assert_allclose(ours[name], want, rtol=1e-4, atol=1e-4)
    assert mlir.count(POOL) == 2

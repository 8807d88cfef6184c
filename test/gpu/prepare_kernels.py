#!/usr/bin/env python3
"""Prepares the GPU check of the NVPTX pipeline's own kernels: small ONNX
models that reach the tensor-core matmul (float16 MatMul / Gemm, odd and
batched shapes; a bfloat16 MatMul; int8 MatMulInteger) and the fused row kernels (softmax, layer norm, RMS norm,
row reductions over wide rows), each compiled with quant-compile
--target=nvptx, with random inputs and an independent reference: numpy in
float64 for the matmuls (rounded to float16; int8 ones exact), onnxruntime for the rest.

    .venv/bin/python test/gpu/prepare_kernels.py --build-dir build --out build-gpukernels

The folder travels to a GPU machine, where test/gpu/check_models.py runs
it (cases.json, the same format as prepare_models.py's)."""

import argparse
import json
import os
import subprocess

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F16, F32 = TensorProto.FLOAT16, TensorProto.FLOAT


def graph_model(nodes, inputs, outputs, inits=(), opset=18):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def to_bf16(a):
    """float32 values rounded to the nearest bfloat16 (ties to even), as
    float32."""
    bits = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return bits.astype(np.uint32).view(np.float32)


def matmul_cases(rng):
    """(name, model, inputs, reference) for float16 contractions."""
    out = []

    def f16(*shape):
        return (rng.standard_normal(shape) * 0.5).astype(np.float16)

    for m, k, n in [(32, 64, 128), (33, 70, 45), (1, 256, 512), (256, 512, 1024),
                    (1024, 1024, 1024)]:
        x, w = f16(m, k), f16(k, n)
        model = graph_model([helper.make_node("MatMul", ["x", "W"], ["y"])],
                            [vi("x", F16, [m, k])], [vi("y", F16, [m, n])],
                            [numpy_helper.from_array(w, "W")])
        ref = (x.astype(np.float64) @ w.astype(np.float64)).astype(np.float16)
        out.append((f"matmul_f16_{m}x{k}x{n}", model, {"x": x}, {"y": ref}))
    # Batched, both operands inputs.
    a, b = f16(3, 17, 40), f16(3, 40, 24)
    model = graph_model([helper.make_node("MatMul", ["a", "b"], ["y"])],
                        [vi("a", F16, [3, 17, 40]), vi("b", F16, [3, 40, 24])],
                        [vi("y", F16, [3, 17, 24])])
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.float16)
    out.append(("batched_matmul_f16", model, {"a": a, "b": b}, {"y": ref}))
    # Gemm with a transposed weight and a bias (a linear layer).
    x, w, bias = f16(50, 96), f16(80, 96), f16(80)
    model = graph_model(
        [helper.make_node("Gemm", ["x", "W", "B"], ["y"], transB=1)],
        [vi("x", F16, [50, 96])], [vi("y", F16, [50, 80])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(bias, "B")])
    ref = (x.astype(np.float64) @ w.astype(np.float64).T + bias).astype(np.float16)
    out.append(("gemm_f16_transb", model, {"x": x}, {"y": ref}))
    # bfloat16 (nvvm.mma.sync), between float32 casts (.npy has no bf16).
    x = to_bf16(rng.standard_normal((48, 136)).astype(np.float32))
    w = to_bf16(rng.standard_normal((136, 40)).astype(np.float32))
    model = graph_model(
        [helper.make_node("Cast", ["x"], ["xb"], to=TensorProto.BFLOAT16),
         helper.make_node("MatMul", ["xb", "W"], ["yb"]),
         helper.make_node("Cast", ["yb"], ["y"], to=TensorProto.FLOAT)],
        [vi("x", F32, [48, 136])], [vi("y", F32, [48, 40])],
        [helper.make_tensor("W", TensorProto.BFLOAT16, w.shape,
                            w.flatten().tolist())])
    ref = to_bf16((x.astype(np.float64) @ w.astype(np.float64)).astype(np.float32))
    out.append(("matmul_bf16_48x136x40", model, {"x": x}, {"y": ref}))
    # int8 x int8 -> int32 (MatMulInteger without zero points): s8 wmma.
    a = rng.integers(-128, 128, (40, 96), dtype=np.int8)
    b = rng.integers(-128, 128, (96, 72), dtype=np.int8)
    model = graph_model([helper.make_node("MatMulInteger", ["a", "B"], ["y"])],
                        [vi("a", TensorProto.INT8, [40, 96])],
                        [vi("y", TensorProto.INT32, [40, 72])],
                        [numpy_helper.from_array(b, "B")])
    ref = a.astype(np.int64) @ b.astype(np.int64)
    out.append(("matmul_integer_s8", model, {"a": a}, {"y": ref.astype(np.int32)}))
    return out


def row_cases(rng):
    """(name, model, inputs) for the fused row kernels (reference: ORT)."""
    out = []
    x = rng.standard_normal((6, 1000)).astype(np.float32) * 4
    out.append(("softmax_6x1000", graph_model(
        [helper.make_node("Softmax", ["x"], ["y"], axis=-1)],
        [vi("x", F32, [6, 1000])], [vi("y", F32, [6, 1000])]), {"x": x}))
    x = rng.standard_normal((2, 4, 33, 77)).astype(np.float32)
    out.append(("softmax_4d", graph_model(
        [helper.make_node("Softmax", ["x"], ["y"], axis=-1)],
        [vi("x", F32, [2, 4, 33, 77])], [vi("y", F32, [2, 4, 33, 77])]),
        {"x": x}))
    x = rng.standard_normal((4, 7, 4096)).astype(np.float32) * 3 + 1
    g = rng.standard_normal(4096).astype(np.float32)
    b = rng.standard_normal(4096).astype(np.float32)
    out.append(("layernorm_4x7x4096", graph_model(
        [helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"],
                          axis=-1, epsilon=1e-5)],
        [vi("x", F32, [4, 7, 4096])], [vi("y", F32, [4, 7, 4096])],
        [numpy_helper.from_array(g, "g"), numpy_helper.from_array(b, "b")]),
        {"x": x}))
    # RMS norm from primitives: x / sqrt(mean(x^2) + eps) * g.
    x = rng.standard_normal((16, 2048)).astype(np.float32)
    g = rng.standard_normal(2048).astype(np.float32)
    nodes = [helper.make_node("Mul", ["x", "x"], ["sq"]),
             helper.make_node("ReduceMean", ["sq", "axes"], ["ms"], keepdims=1),
             helper.make_node("Add", ["ms", "eps"], ["mse"]),
             helper.make_node("Sqrt", ["mse"], ["rms"]),
             helper.make_node("Div", ["x", "rms"], ["xn"]),
             helper.make_node("Mul", ["xn", "g"], ["y"])]
    out.append(("rmsnorm_16x2048", graph_model(
        nodes, [vi("x", F32, [16, 2048])], [vi("y", F32, [16, 2048])],
        [numpy_helper.from_array(g, "g"),
         numpy_helper.from_array(np.array([-1], np.int64), "axes"),
         numpy_helper.from_array(np.array(1e-6, np.float32), "eps")]),
        {"x": x}))
    x = rng.standard_normal((64, 333)).astype(np.float32)
    out.append(("reduce_max_sum_64x333", graph_model(
        [helper.make_node("ReduceMax", ["x", "axes"], ["mx"], keepdims=0),
         helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=0)],
        [vi("x", F32, [64, 333])], [vi("mx", F32, [64]), vi("s", F32, [64])],
        [numpy_helper.from_array(np.array([1], np.int64), "axes")]),
        {"x": x}))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--out", default="build-gpukernels")
    ap.add_argument("--gpu-arch", default="sm_90")
    args = ap.parse_args()
    import onnxruntime as ort
    rng = np.random.default_rng(7)
    compiler = os.path.join(args.build_dir, "bin", "quant-compile")
    # int8 products are exact; float16 ones within a rounding of float16.
    tolerance = {"integer": 0.0, "bf16": 8e-3}  # else float16's 2e-3
    todo = [(n, m, i, r, next((t for k, t in tolerance.items() if k in n), 2e-3))
            for n, m, i, r in matmul_cases(rng)]
    for name, model, inputs in row_cases(rng):
        sess = ort.InferenceSession(model.SerializeToString(),
                                    providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        refs = dict(zip(names, sess.run(None, inputs)))
        todo.append((name, model, inputs, refs, 1e-4))
    cases = []
    for name, model, inputs, refs, tol in todo:
        d = os.path.join(args.out, name)
        os.makedirs(os.path.join(d, "ref"), exist_ok=True)
        onnx.save(model, os.path.join(d, "model.onnx"))
        subprocess.run([compiler, os.path.join(d, "model.onnx"), "-o",
                        os.path.join(d, "model.so"), "--target=nvptx",
                        f"--gpu-arch={args.gpu_arch}"], check=True)
        paths = {}
        for k, v in inputs.items():
            np.save(os.path.join(d, k + ".npy"), v)
            paths[k] = os.path.relpath(os.path.join(d, k + ".npy"), args.out)
        for k, v in refs.items():
            np.save(os.path.join(d, "ref", k + ".npy"), v)
        cases.append({"model": name, "scheme": "float", "sample": "0",
                      "artifact": os.path.relpath(os.path.join(d, "model.so"),
                                                  args.out),
                      "inputs": paths, "tolerance": tol,
                      "reference": os.path.relpath(os.path.join(d, "ref"),
                                                   args.out)})
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
    print(f"{len(cases)} cases in {args.out}")


if __name__ == "__main__":
    main()

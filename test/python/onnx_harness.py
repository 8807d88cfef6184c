"""Runs an ONNX model through quant-opt (import, qopt-cpu-pipeline,
mlir-runner) and through onnxruntime, for side-by-side comparison."""

import os
import re
import subprocess

import numpy as np
import onnx
import onnxruntime as ort

from run_mlp_int8 import lower_and_run

_MLIR_ELEM = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64",
              np.dtype(np.float16): "f16", np.dtype(np.int64): "i64",
              np.dtype(np.int32): "i32", np.dtype(np.int16): "i16",
              np.dtype(np.int8): "i8", np.dtype(np.uint8): "i8",
              np.dtype(np.bool_): "i1"}


def run_onnxruntime(model, inputs):
    sess = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, inputs)))


def _tensor_type(arr):
    dims = "x".join(str(d) for d in arr.shape)
    return f"tensor<{dims + 'x' if dims else ''}{_MLIR_ELEM[arr.dtype]}>"


def _hex_dense(arr):
    return f'dense<"0x{np.ascontiguousarray(arr).tobytes().hex().upper()}">'


def _parse_memrefs(text):
    """Flat values of each printMemrefF32 call in mlir-runner's output."""
    chunks = text.split("Unranked Memref")[1:]
    out = []
    for chunk in chunks:
        data = chunk.split("data =", 1)[1]
        nums = re.findall(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|inf|nan)", data)
        out.append(np.array([float(v) for v in nums], np.float32))
    return out


def run_quant_opt(model, inputs, tmp_path, build_dir, output_names=None):
    """Imports `model` with static input shapes, compiles it for the CPU and
    runs it; returns {output name: array} for the float32 outputs (others
    are computed but not printed: Cast them to float in the model to
    compare them)."""
    tmp = str(tmp_path)
    model_path = os.path.join(tmp, "model.onnx")
    onnx.save(model, model_path)
    ref = run_onnxruntime(model, inputs)
    output_names = output_names or [n for n, v in ref.items()
                                     if v.dtype == np.float32]
    translate = os.path.join(build_dir, "bin", "quant-translate")
    quant_opt = os.path.join(build_dir, "bin", "quant-opt")
    pins = []
    for name, arr in inputs.items():
        pins.append("--pin-shape=" + name + "=" +
                    "x".join(str(d) for d in arr.shape))
    imported = subprocess.run(
        [translate, "--import-onnx", model_path, *pins],
        capture_output=True, text=True)
    if imported.returncode != 0:
        raise RuntimeError("import failed:\n" + imported.stderr)
    text = imported.stdout

    in_names = [i.name for i in model.graph.input
                if i.name not in {t.name for t in model.graph.initializer}]
    out_order = [o.name for o in model.graph.output]
    lines = ["func.func private @printMemrefF32(tensor<*xf32>)",
             "func.func @entry() {"]
    args = []
    for i, name in enumerate(in_names):
        arr = inputs[name]
        lines.append(f"  %a{i} = arith.constant {_hex_dense(arr)} : "
                     f"{_tensor_type(arr)}")
        args.append(f"%a{i}")
    arg_types = ", ".join(_tensor_type(inputs[n]) for n in in_names)
    res_types = [_tensor_type(ref[n]) for n in out_order]
    lines.append(f"  %r:{len(res_types)} = call @main({', '.join(args)}) : "
                 f"({arg_types}) -> ({', '.join(res_types)})")
    for i, name in enumerate(out_order):
        if name not in output_names:
            continue
        lines.append(f"  %u{i} = tensor.cast %r#{i} : {res_types[i]} to "
                     "tensor<*xf32>")
        lines.append(f"  call @printMemrefF32(%u{i}) : (tensor<*xf32>) -> ()")
    lines += ["  return", "}"]
    cut = text.find("\n{-#")
    body_end = text.rfind("}", 0, cut if cut >= 0 else len(text))
    text = text[:body_end] + "\n".join(lines) + "\n" + text[body_end:]

    stdout = lower_and_run(text, tmp, quant_opt, entry="entry")
    printed = _parse_memrefs(stdout)
    names = [n for n in out_order if n in output_names]
    assert len(printed) == len(names), stdout[:2000]
    ours = {n: v.reshape(ref[n].shape) for n, v in zip(names, printed)}
    return ours, ref

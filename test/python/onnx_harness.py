"""Runs an ONNX model through quant-opt (import, qopt-cpu-pipeline,
mlir-runner) and through onnxruntime, for side-by-side comparison."""

import os
import re
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from run_mlp_int8 import lower_and_run

_MLIR_ELEM = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64",
              np.dtype(np.float16): "f16", np.dtype(np.int64): "i64",
              np.dtype(np.int32): "i32", np.dtype(np.int16): "i16",
              np.dtype(np.int8): "i8", np.dtype(np.uint8): "i8",
              np.dtype(np.bool_): "i1"}


def make_model(nodes, inputs, outputs, inits=(), opset=17):
    """A model of one graph `g` importing the default domain at `opset`, with
    the IR version onnxruntime accepts for it."""
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    ir = 8 if opset <= 17 else (9 if opset <= 20 else 10)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=ir)


def vi(name, shape=None, dtype=TensorProto.FLOAT):
    """A value info; no shape leaves it to onnxruntime (the harness takes
    output shapes from its results)."""
    return helper.make_tensor_value_info(name, dtype, shape)


def check(ours, ref, rtol=1e-4, atol=1e-5, check_shapes=False,
          all_outputs=True):
    """Compares run_quant_opt's two results. `all_outputs`: both must hold
    the same outputs (otherwise only those in `ours` are compared);
    `check_shapes`: the shapes must match exactly as well."""
    if all_outputs:
        assert set(ours) == set(ref)
    for name, expected in ref.items():
        if name not in ours:
            continue
        if check_shapes:
            assert ours[name].shape == expected.shape, name
        np.testing.assert_allclose(ours[name], expected, rtol=rtol, atol=atol,
                                   err_msg=name)


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


def run_quant_opt(model, inputs, tmp_path, build_dir, output_names=None,
                  pin_shapes=True):
    """Imports `model` with static input shapes, compiles it for the CPU and
    runs it; returns ({output name: array} for the float32 outputs (others
    are computed but not printed: Cast them to float in the model to
    compare them), onnxruntime's outputs). `pin_shapes=False` imports
    without pinning the input shapes, so that the dynamic-shape code paths
    run; the inputs are then cast to the imported (dynamic) types."""
    tmp = str(tmp_path)
    model_path = os.path.join(tmp, "model.onnx")
    onnx.save(model, model_path)
    ref = run_onnxruntime(model, inputs)
    output_names = output_names or [n for n, v in ref.items()
                                     if v.dtype == np.float32]
    translate = os.path.join(build_dir, "bin", "quant-translate")
    quant_opt = os.path.join(build_dir, "bin", "quant-opt")
    pins = []
    if pin_shapes:
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
    if pin_shapes:
        arg_types = [_tensor_type(inputs[n]) for n in in_names]
        res_types = [_tensor_type(ref[n]) for n in out_order]
    else:
        sig = re.search(r"func\.func @main\((.*)\) -> \((.*)\) \{\n", text)
        arg_types = re.findall(r"tensor<[^>]*>", sig.group(1))
        res_types = re.findall(r"tensor<[^>]*>", sig.group(2))
    args = []
    for i, name in enumerate(in_names):
        arr = inputs[name]
        lines.append(f"  %a{i} = arith.constant {_hex_dense(arr)} : "
                     f"{_tensor_type(arr)}")
        if _tensor_type(arr) != arg_types[i]:
            lines.append(f"  %c{i} = tensor.cast %a{i} : {_tensor_type(arr)} "
                         f"to {arg_types[i]}")
            args.append(f"%c{i}")
        else:
            args.append(f"%a{i}")
    arg_types = ", ".join(arg_types)
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

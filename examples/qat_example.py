#!/usr/bin/env python3
"""Quantization-aware training round trip on the bundled MLP.

1. quant-compile --quantize=w8a8 --prepare-qat --emit=onnx writes the MLP
   with fake quant (QuantizeLinear -> DequantizeLinear) at every point our
   W8A8 scheme quantizes, initial scales from calibration as initializers.
2. With PyTorch installed: a few steps of real QAT on that graph — the ONNX
   graph interpreted with torch ops, each Q -> DQ pair a fake quant with the
   straight-through estimator for rounding (gradients reach the float
   weights and, LSQ-style, the scales), distilling the float model's
   outputs on the calibration samples — and the learned weights and scales
   written back into the graph. Without torch this step is skipped (the
   exported graph is compiled as it is).
3. quant-compile folds the trained QDQ graph into integer layers with the
   learned scales; the artifact is checked against onnxruntime running the
   same graph (and its error against the float model printed).

    python3 examples/qat_example.py --build-dir build [--steps 30] [--out DIR]
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_examples  # noqa: E402

try:
    import torch
except ImportError:  # the training step needs torch; the rest does not
    torch = None


def samples(folder, name):
    return [np.load(os.path.join(folder, s, name + ".npy"))
            for s in sorted(os.listdir(folder))]


def train(model, inputs, targets, steps, lr, scale_lr):
    """A few QAT steps on `model` (ONNX, fake quant); returns the model with
    the trained initializers."""
    inits = {i.name: torch.nn.Parameter(torch.from_numpy(
        numpy_helper.to_array(i).astype(np.float32).copy()))
        for i in model.graph.initializer
        if i.data_type == onnx.TensorProto.FLOAT}
    fixed = {i.name: torch.from_numpy(numpy_helper.to_array(i).astype(
        np.int64)) for i in model.graph.initializer
        if i.data_type != onnx.TensorProto.FLOAT}
    nodes = list(model.graph.node)

    def ste_round(x):
        return x + (torch.round(x) - x).detach()

    def fake_quant(x, s, z, node):
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if s.dim() == 1:  # per channel: broadcast along axis
            shape = [1] * x.dim()
            shape[axis] = -1
            s, z = s.reshape(shape), z.reshape(shape)
        lo, hi = (-128, 127) if fixed_signed[node.input[2]] else (0, 255)
        q = torch.clamp(ste_round(x / s) + z, lo, hi)
        return (q - z) * s

    fixed_signed = {i.name: i.data_type == onnx.TensorProto.INT8
                    for i in model.graph.initializer}
    out_name = model.graph.output[0].name
    in_name = model.graph.input[0].name

    def forward(x):
        env = {in_name: x}
        env.update(inits)
        env.update({k: v.float() for k, v in fixed.items()})
        for n in nodes:
            a = [env[i] for i in n.input]
            attrs = {t.name: t for t in n.attribute}
            if n.op_type == "QuantizeLinear":
                env[n.output[0]] = ("fq", a[0], a[1], a[2], n)
                continue
            if n.op_type == "DequantizeLinear":
                _, x0, s, z, qn = a[0]
                y = fake_quant(x0, s, z, qn)
            elif n.op_type == "Gemm":
                b = a[1].t() if attrs.get("transB") and attrs["transB"].i \
                    else a[1]
                y = a[0] @ b + (a[2] if len(a) > 2 else 0)
            elif n.op_type == "MatMul":
                y = a[0] @ a[1]
            elif n.op_type == "Add":
                y = a[0] + a[1]
            elif n.op_type == "Relu":
                y = torch.relu(a[0])
            else:
                sys.exit(f"qat_example: op {n.op_type} is not interpreted")
            env[n.output[0]] = y
        return env[out_name]

    # Scales are ~1e-3 where weights are ~1e-1: a learning rate per group
    # keeps Adam's steps of each at a similar relative size (LSQ scales the
    # scales' gradients for the same reason).
    scales = [p for k, p in inits.items() if k.endswith("_scale")]
    weights = [p for k, p in inits.items() if not k.endswith("_scale")]
    opt = torch.optim.Adam([{"params": weights, "lr": lr},
                            {"params": scales, "lr": lr * scale_lr}])
    xs = torch.from_numpy(np.concatenate(inputs))
    ys = torch.from_numpy(np.concatenate(targets))
    for step in range(steps):
        opt.zero_grad()
        loss = torch.mean((forward(xs) - ys) ** 2)
        loss.backward()
        opt.step()
        with torch.no_grad():  # scales stay positive
            for k, p in inits.items():
                if k.endswith("_scale"):
                    p.clamp_(min=1e-8)
        if step % 10 == 0 or step == steps - 1:
            print(f"  step {step:3d}: distillation MSE {loss.item():.3e}")
    for t in model.graph.initializer:
        if t.name in inits:
            t.CopyFrom(numpy_helper.from_array(
                inits[t.name].detach().numpy(), t.name))
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--scale-lr", type=float, default=0.01,
                    help="the scales' learning rate, times --lr")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    bindir = os.path.join(args.build_dir, "bin")
    out = args.out or tempfile.mkdtemp(prefix="qat_example_")
    make_examples.write_model(out, "mlp", calib=16, eval_=4)
    folder = os.path.join(out, "mlp")
    model_path = os.path.join(folder, "model.onnx")
    qat_path = os.path.join(folder, "model.qat.onnx")
    subprocess.run([os.path.join(bindir, "quant-compile"), model_path,
                    "--quantize=w8a8", "--prepare-qat", "--emit=onnx",
                    "--calibration-data=" + os.path.join(folder, "calibration"),
                    "-o", qat_path], check=True)
    qat = onnx.load(qat_path)
    inputs = samples(os.path.join(folder, "calibration"), "input")
    fsess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    trained_path = os.path.join(folder, "model.trained.onnx")
    if torch is None:
        print("qat_example: torch is not installed: skipping the training "
              "steps, compiling the exported graph as it is")
        onnx.save(qat, trained_path)
    else:
        targets = [fsess.run(None, {"input": x})[0] for x in inputs]
        print(f"qat_example: {args.steps} QAT steps (torch {torch.__version__})")
        onnx.save(train(qat, inputs, targets, args.steps, args.lr,
                        args.scale_lr), trained_path)
    so = os.path.join(folder, "model.trained.so")
    subprocess.run([os.path.join(bindir, "quant-compile"), trained_path,
                    "-o", so], check=True)
    tsess = ort.InferenceSession(trained_path,
                                 providers=["CPUExecutionProvider"])
    worst = 0.0
    for s in sorted(os.listdir(os.path.join(folder, "eval"))):
        x_path = os.path.join(folder, "eval", s, "input.npy")
        odir = os.path.join(folder, "out_" + s)
        subprocess.run([os.path.join(bindir, "quant-run"), so, "--input",
                        "input=" + x_path, "--output-dir", odir], check=True,
                       capture_output=True)
        got = np.load(os.path.join(odir, "logits.npy"))
        x = np.load(x_path)
        ref = tsess.run(None, {"input": x})[0]
        flt = fsess.run(None, {"input": x})[0]
        worst = max(worst, float(np.abs(got - ref).max()))
        print(f"  {s}: |artifact - onnxruntime(trained graph)| = "
              f"{np.abs(got - ref).max():.2e}, |artifact - float model| = "
              f"{np.abs(got - flt).max():.2e}")
    # The QAT graph before and after training against the float model on
    # the held-back samples (onnxruntime running both graphs).
    qsess = ort.InferenceSession(qat_path, providers=["CPUExecutionProvider"])
    err = {"exported": [], "trained": []}
    for s in sorted(os.listdir(os.path.join(folder, "eval"))):
        x = np.load(os.path.join(folder, "eval", s, "input.npy"))
        flt = fsess.run(None, {"input": x})[0]
        err["exported"].append(np.mean((qsess.run(None, {"input": x})[0] -
                                        flt) ** 2))
        err["trained"].append(np.mean((tsess.run(None, {"input": x})[0] -
                                       flt) ** 2))
    print(f"  eval MSE vs the float model: exported QAT graph "
          f"{np.mean(err['exported']):.3e}, trained "
          f"{np.mean(err['trained']):.3e}")
    ok = worst < 1e-2
    print(("PASS" if ok else "FAIL") + f": integer artifact of the trained "
          f"graph at {so}, max |diff| vs onnxruntime {worst:.2e}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

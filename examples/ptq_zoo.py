#!/usr/bin/env python3
"""Generated models whose activations look like trained networks' (issue
25): one-sided after ReLU/HardSwish/Sigmoid, spiky per-channel scales,
heavy-tailed inputs. Used by test/python/test_ptq_accuracy.py and
benchmarks/ptq/bench_calibration.py.

    python examples/ptq_zoo.py OUT_DIR [--models detector,mobilenet]

Each model: OUT_DIR/<name>/{model.onnx, calibration/, eval/} (samples as
.npy files, one folder per sample, as make_examples writes them).

- detector: a YOLO-style score head. Conv-BN-HardSwish stem, a MobileNet
  block (depthwise 3x3 + HardSwish, pointwise 1x1 + ReLU), then a 1x1
  Conv head with Sigmoid: 4 class scores per cell, most cells background
  (scores near 0), a few objects near 1.
- mobilenet: a MobileNetV3-style classifier. Stem, an inverted residual
  block with depthwise conv, HardSwish and a squeeze-excitation gate
  (GlobalAveragePool, 1x1 Conv, ReLU, 1x1 Conv, HardSigmoid, Mul), a
  Softmax over 10 classes.
- transformer_softmax: a tiny attention block whose attention
  probabilities (Softmax) feed a MatMul... through the value projection:
  Q/K/V linear layers, softmax(QK^T/sqrt(d)) V, output projection, GELU MLP
  with heavy-tailed (Student t) token inputs.

The weights follow trained networks' habits: BatchNorm folded into
per-output-channel scales that vary over a decade (log-normal), and a few
outlier input channels.
"""

import argparse
import math
import os

import numpy as np
import onnx
from onnx import TensorProto, helper

import make_examples
from make_examples import GraphBuilder, f32, rng_for

_WEIGHTS, _CALIB, _EVAL = 11, 12, 13


def _conv(g, rng, scope, x, cin, cout, k, stride=1, group=1, gain=2.0,
          spread=0.6):
    """Conv with BatchNorm folded in: Kaiming weights times a log-normal
    per-output-channel scale, a bias that shifts some channels."""
    w = rng.normal(0.0, math.sqrt(gain / (cin // group * k * k)),
                   (cout, cin // group, k, k))
    w *= np.exp(rng.normal(0.0, spread, (cout, 1, 1, 1)))
    b = rng.normal(0.0, 0.3, (cout,))
    wn = g.init(f"{scope.strip('/')}.weight", f32(w))
    bn = g.init(f"{scope.strip('/')}.bias", f32(b))
    return g.op(scope, "Conv", [x, wn, bn], kernel_shape=[k, k],
                pads=[k // 2] * 4, strides=[stride, stride], group=group)


def build_detector(seed=0):
    rng = rng_for(seed, "ptq_detector", _WEIGHTS)
    g = GraphBuilder()
    x = _conv(g, rng, "/stem/conv", "image", 3, 16, 3, stride=2)
    x = g.op("/stem/act", "HardSwish", [x])
    x = _conv(g, rng, "/block/dw", x, 16, 16, 3, group=16)
    x = g.op("/block/dw_act", "HardSwish", [x])
    x = _conv(g, rng, "/block/pw", x, 16, 32, 1)
    x = g.op("/block/pw_act", "Relu", [x])
    x = _conv(g, rng, "/neck/conv", x, 32, 32, 3, stride=2)
    x = g.op("/neck/act", "HardSwish", [x])
    # Score head: background logits around -6, a few objects above 0.
    w = rng.normal(0.0, 0.15, (4, 32, 1, 1))
    b = np.full((4,), -6.0)
    logits = g.op("/head/conv", "Conv",
                  [x, g.init("head.weight", f32(w)), g.init("head.bias", f32(b))],
                  kernel_shape=[1, 1])
    g.nodes.append(helper.make_node("Sigmoid", [logits], ["scores"],
                                    name="/head/Sigmoid"))
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                            [1, 3, 32, 32])]
    outputs = [helper.make_tensor_value_info("scores", TensorProto.FLOAT,
                                             [1, 4, 8, 8])]
    return g.model("ptq_detector", inputs, outputs), "image"


def build_mobilenet(seed=0):
    rng = rng_for(seed, "ptq_mobilenet", _WEIGHTS)
    g = GraphBuilder()
    x = _conv(g, rng, "/stem/conv", "image", 3, 16, 3, stride=2)
    x = g.op("/stem/act", "HardSwish", [x])
    # Inverted residual: expand 1x1, depthwise 3x3, SE, project 1x1.
    e = _conv(g, rng, "/ir/expand", x, 16, 48, 1)
    e = g.op("/ir/expand_act", "HardSwish", [e])
    d = _conv(g, rng, "/ir/dw", e, 48, 48, 3, group=48)
    d = g.op("/ir/dw_act", "HardSwish", [d])
    s = g.op("/ir/se/pool", "GlobalAveragePool", [d])
    s = _conv(g, rng, "/ir/se/fc1", s, 48, 12, 1)
    s = g.op("/ir/se/relu", "Relu", [s])
    s = _conv(g, rng, "/ir/se/fc2", s, 12, 48, 1)
    s = g.op("/ir/se/gate", "HardSigmoid", [s], alpha=1.0 / 6, beta=0.5)
    d = g.op("/ir/se/scale", "Mul", [d, s])
    p = _conv(g, rng, "/ir/project", d, 48, 16, 1, gain=1.0)
    x = g.op("/ir/add", "Add", [x, p])
    x = _conv(g, rng, "/head/conv", x, 16, 64, 1)
    x = g.op("/head/act", "HardSwish", [x])
    x = g.op("/head/pool", "GlobalAveragePool", [x])
    x = g.op("/head", "Flatten", [x], axis=1)
    w = rng.normal(0.0, 1.0 / 8, (10, 64))
    b = rng.normal(0.0, 0.1, (10,))
    logits = g.op("/classifier", "Gemm",
                  [x, g.init("classifier.weight", f32(w)),
                   g.init("classifier.bias", f32(b))], transB=1)
    g.nodes.append(helper.make_node("Softmax", [logits], ["probs"],
                                    name="/Softmax", axis=1))
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                            [1, 3, 32, 32])]
    outputs = [helper.make_tensor_value_info("probs", TensorProto.FLOAT,
                                             [1, 10])]
    return g.model("ptq_mobilenet", inputs, outputs), "image"


def build_transformer_softmax(seed=0, tokens=16, d=64):
    rng = rng_for(seed, "ptq_transformer_softmax", _WEIGHTS)
    g = GraphBuilder()

    def linear(scope, x, din, dout, outliers=False):
        w = rng.normal(0.0, 1.0 / math.sqrt(din), (din, dout))
        if outliers:  # a few input channels with large weights
            w[rng.choice(din, 3, replace=False)] *= 8
        y = g.op(scope, "MatMul", [x, g.init(f"{scope.strip('/')}.weight",
                                             f32(w))])
        return g.op(scope, "Add", [y, g.init(f"{scope.strip('/')}.bias",
                                             f32(rng.normal(0, 0.1, dout)))])

    x = "tokens"
    q = linear("/attn/q_proj", x, d, d, outliers=True)
    k = linear("/attn/k_proj", x, d, d, outliers=True)
    v = linear("/attn/v_proj", x, d, d)
    kt = g.op("/attn", "Transpose", [k], perm=[0, 2, 1])
    sc = g.op("/attn", "MatMul", [q, kt])
    sc = g.op("/attn", "Mul", [sc, g.init("attn.scale",
                                          f32(np.array(1.0 / math.sqrt(d))),
                                          parameter=False)])
    pr = g.op("/attn", "Softmax", [sc], axis=-1)
    a = g.op("/attn", "MatMul", [pr, v])
    o = linear("/attn/o_proj", a, d, d)
    h = g.op("/res", "Add", [x, o])
    m = linear("/mlp/fc1", h, d, 4 * d)
    # tanh-GELU as exporters write it.
    c = g.op("/mlp/gelu", "Mul", [m, g.init("gelu.c", f32(np.array(0.044715)),
                                            parameter=False)])
    c = g.op("/mlp/gelu", "Mul", [c, m])
    c = g.op("/mlp/gelu", "Mul", [c, m])
    c = g.op("/mlp/gelu", "Add", [m, c])
    c = g.op("/mlp/gelu", "Mul", [c, g.init("gelu.k",
                                            f32(np.array(math.sqrt(2 / math.pi))),
                                            parameter=False)])
    c = g.op("/mlp/gelu", "Tanh", [c])
    c = g.op("/mlp/gelu", "Add", [c, g.init("gelu.one", f32(np.array(1.0)),
                                            parameter=False)])
    c = g.op("/mlp/gelu", "Mul", [c, m])
    c = g.op("/mlp/gelu", "Mul", [c, g.init("gelu.half", f32(np.array(0.5)),
                                            parameter=False)])
    y = linear("/mlp/fc2", c, 4 * d, d)
    y = g.op("/out", "Add", [h, y])
    w = rng.normal(0.0, 1.0 / math.sqrt(d), (d, 32))
    logits = g.op("/lm_head", "MatMul", [y, g.init("lm_head.weight", f32(w))])
    g.nodes[-1].output[0] = "logits"
    inputs = [helper.make_tensor_value_info("tokens", TensorProto.FLOAT,
                                            [1, tokens, d])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                             [1, tokens, 32])]
    return g.model("ptq_transformer_softmax", inputs, outputs), "tokens"


def image_inputs(rng):
    """Natural-looking images, normalised as for CIFAR, with saturated
    highlights (clipped to 1) as camera images have."""
    shapes = {"image": (1, 3, 32, 32)}
    extra = dict(normalization=dict(mean=list(make_examples.CIFAR_MEAN),
                                    std=list(make_examples.CIFAR_STD)))
    out = make_examples.cnn_inputs(shapes, extra, rng)
    # Bright objects: a few patches far brighter than the background.
    img = out["image"]
    for _ in range(rng.integers(1, 3)):
        y, x = rng.integers(0, 28, 2)
        img[:, :, y:y + 4, x:x + 4] += rng.uniform(1.5, 3.0)
    return {"image": f32(img)}


def token_inputs(rng, tokens=16, d=64):
    """Heavy-tailed hidden states (Student t, 3 dof) with two outlier
    feature dimensions, as LLM activations have."""
    x = rng.standard_t(3, (1, tokens, d)) * 0.5
    x[..., 5] *= 12
    x[..., 40] *= 8
    return {"tokens": f32(x)}


MODELS = {
    "detector": (build_detector, image_inputs),
    "mobilenet": (build_mobilenet, image_inputs),
    "transformer_softmax": (build_transformer_softmax, token_inputs),
}


def write(out_dir, name, calib=32, eval_=8, seed=0):
    """Writes OUT_DIR/<name>/{model.onnx,calibration/,eval/}; returns
    (model path, input name)."""
    build, make_inputs = MODELS[name]
    model, inp = build(seed)
    onnx.checker.check_model(model, full_check=True)
    mdir = os.path.join(out_dir, name)
    os.makedirs(mdir, exist_ok=True)
    path = os.path.join(mdir, "model.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString(deterministic=True))
    make_examples.write_samples(os.path.join(mdir, "calibration"), make_inputs,
                                rng_for(seed, "ptq_" + name, _CALIB), calib)
    make_examples.write_samples(os.path.join(mdir, "eval"), make_inputs,
                                rng_for(seed, "ptq_" + name, _EVAL), eval_)
    return path, inp


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--eval", type=int, default=8)
    args = ap.parse_args(argv)
    for name in args.models.split(","):
        print(write(args.out, name, args.calib, args.eval)[0])


if __name__ == "__main__":
    main()

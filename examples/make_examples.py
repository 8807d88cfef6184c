#!/usr/bin/env python3
"""Deterministic generator of the bundled example ONNX models.

Builds, with the `onnx` package only (no torch), float32 models that look
like PyTorch exports (opset 17, IR version 8, weights as initializers with
realistic init scales, node names carrying module paths), together with
calibration and evaluation inputs that look like real activations:

  transformer        pre-LN decoder block, hidden 64, 4 heads, MLP 256;
                     input "hidden_states" [batch, sequence, 64] (dynamic
                     batch/sequence), output "output"
  transformer_large  the same block with hidden 1024, 16 heads, MLP 4096,
                     sequence 128 (~50 MB: benchmarks only, never commit it)
  mlp                Gemm 256->512, Relu, Gemm 512->512, Relu, Gemm 512->10;
                     input "input" [batch, 256], output "logits"
  cnn                3 x (Conv 3x3 + BatchNormalization + Relu) with two
                     MaxPools, GlobalAveragePool, Flatten, Gemm 64->10;
                     input "image" [batch, 3, 32, 32], output "logits"

For each model it writes

  DIR/<model>/model.onnx
  DIR/<model>/info.json
  DIR/<model>/calibration/sample_000/<input name>.npy   (one folder a sample)
  DIR/<model>/eval/sample_000/<input name>.npy          (held-back inputs)

The same command writes byte-identical files:

  python examples/make_examples.py --out DIR [--models transformer,mlp,cnn]
      [--calib N] [--eval N] [--seed 0]

(--models also accepts transformer_large and "all"; the default is the
three small models. --calib/--eval default to 64/16, and to 8/4 for
transformer_large.)
"""

import argparse
import json
import math
import os
import re
import shutil
import sys
import time
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
PRODUCER = "qopt-make-examples"

SMALL_MODELS = ("transformer", "mlp", "cnn")
ALL_MODELS = ("transformer", "mlp", "cnn", "transformer_large")

# Default number of calibration / evaluation samples per model.
DEFAULT_COUNTS = {
    "transformer": (64, 16),
    "mlp": (64, 16),
    "cnn": (64, 16),
    "transformer_large": (8, 4),
}

TRANSFORMER_CONFIGS = {
    "transformer": dict(hidden=64, heads=4, mlp=256, layers=1,
                        batch=1, sequence=16,
                        num_outlier_channels=2, eps=1e-5),
    "transformer_large": dict(hidden=1024, heads=16, mlp=4096, layers=1,
                              batch=1, sequence=128,
                              num_outlier_channels=6, eps=1e-5),
}

# Purposes mixed into the seed so that weights, calibration inputs and
# evaluation inputs come from independent streams.
_WEIGHTS, _CALIB, _EVAL = 0, 1, 2

# Value added to the attention scores of future positions.
MASK_VALUE = -10000.0


def rng_for(seed, model, purpose):
    """A numpy Generator that depends only on (seed, model name, purpose)."""
    key = zlib.crc32(model.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence([seed, key, purpose]))


def f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


# ---------------------------------------------------------------------------
# Graph builder with PyTorch-export-like naming.
# ---------------------------------------------------------------------------

class GraphBuilder:
    """Collects nodes and initializers. Node names follow the PyTorch
    exporter ("/scope/OpType", "/scope/OpType_1", ...) and node outputs are
    "<node name>_output_0"."""

    def __init__(self):
        self.nodes = []
        self.initializers = []
        self._names = set()
        self._counts = {}
        # PyTorch names anonymous (e.g. transposed) weights "onnx::Op_N".
        self._anon = 100
        self.parameter_names = set()

    def _node_name(self, scope, op):
        base = f"{scope}/{op}"
        n = self._counts.get(base, 0)
        self._counts[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def op(self, scope, op_type, inputs, num_outputs=1, **attrs):
        name = self._node_name(scope, op_type)
        outs = [f"{name}_output_{i}" for i in range(num_outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs,
                                           name=name, **attrs))
        return outs[0] if num_outputs == 1 else outs

    def const(self, scope, value):
        """A Constant node, as PyTorch exports small constants."""
        arr = np.asarray(value)
        name = self._node_name(scope, "Constant")
        out = f"{name}_output_0"
        self.nodes.append(helper.make_node(
            "Constant", [], [out], name=name,
            value=numpy_helper.from_array(arr, name="")))
        return out

    def init(self, name, value, parameter=True):
        assert name not in self._names, name
        self._names.add(name)
        self.initializers.append(numpy_helper.from_array(np.asarray(value),
                                                         name))
        if parameter:
            self.parameter_names.add(name)
        return name

    def anon_init(self, op_type, value, parameter=True):
        self._anon += 1
        return self.init(f"onnx::{op_type}_{self._anon}", value, parameter)

    def model(self, graph_name, inputs, outputs):
        graph = helper.make_graph(self.nodes, graph_name, inputs, outputs,
                                  initializer=self.initializers)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name=PRODUCER, producer_version="1")
        model.ir_version = IR_VERSION
        return model


# ---------------------------------------------------------------------------
# transformer / transformer_large
# ---------------------------------------------------------------------------

def _linear(g, rng, scope, pname, x, din, dout, std):
    """x @ W + b with W stored transposed ([in, out]) under an anonymous
    name and the bias under its module path, as torch.onnx exports
    nn.Linear applied to a 3-D input."""
    w = g.anon_init("MatMul", f32(rng.normal(0.0, std, (din, dout))))
    b = g.init(f"{pname}.bias", f32(rng.normal(0.0, 0.02, (dout,))))
    y = g.op(scope, "MatMul", [x, w])
    return g.op(scope, "Add", [b, y])


def _layer_norm(g, rng, scope, pname, x, hidden, eps):
    gamma = g.init(f"{pname}.weight",
                   f32(1.0 + rng.normal(0.0, 0.1, (hidden,))))
    beta = g.init(f"{pname}.bias", f32(rng.normal(0.0, 0.02, (hidden,))))
    return g.op(scope, "LayerNormalization", [x, gamma, beta], axis=-1,
                epsilon=eps)


def build_transformer(name, cfg, seed):
    rng = rng_for(seed, name, _WEIGHTS)
    hidden, heads, mlp = cfg["hidden"], cfg["heads"], cfg["mlp"]
    assert hidden % heads == 0
    head_dim = hidden // heads
    eps = cfg["eps"]
    std = 0.02
    # GPT-2 style scaled init of the projections into the residual stream.
    std_out = 0.02 / math.sqrt(2 * cfg["layers"])
    g = GraphBuilder()

    x = "hidden_states"
    for layer in range(cfg["layers"]):
        L = f"/layers.{layer}"
        P = f"layers.{layer}"
        residual = x
        h = _layer_norm(g, rng, f"{L}/input_layernorm",
                        f"{P}.input_layernorm", x, hidden, eps)

        A = f"{L}/attn"
        q = _linear(g, rng, f"{A}/q_proj", f"{P}.attn.q_proj", h, hidden,
                    hidden, std)
        k = _linear(g, rng, f"{A}/k_proj", f"{P}.attn.k_proj", h, hidden,
                    hidden, std)
        v = _linear(g, rng, f"{A}/v_proj", f"{P}.attn.v_proj", h, hidden,
                    hidden, std)

        # Reshape shapes with 0 ("copy this dim") so that batch and
        # sequence stay dynamic.
        heads_shape = g.const(A, np.array([0, 0, heads, head_dim], np.int64))

        def split_heads(t, perm):
            t = g.op(A, "Reshape", [t, heads_shape])
            return g.op(A, "Transpose", [t], perm=perm)

        qh = split_heads(q, [0, 2, 1, 3])         # [B, H, S, D]
        kt = split_heads(k, [0, 2, 3, 1])         # [B, H, D, S]
        vh = split_heads(v, [0, 2, 1, 3])         # [B, H, S, D]

        scores = g.op(A, "MatMul", [qh, kt])      # [B, H, S, S]
        scores = g.op(A, "Mul", [scores, g.const(
            A, np.array(1.0 / math.sqrt(head_dim), np.float32))])
        # Causal mask (masked_fill of the future positions with a large
        # negative number; finite, so that every value stays finite). It is
        # derived from the scores tensor itself so that the sequence length
        # may stay dynamic: an all-true [B, H, S, S] tensor, its lower
        # triangle (key <= query) by Trilu, and a Where. (The PyTorch-style
        # alternatives, a Slice of a mask buffer or Range + Greater with the
        # length from Shape/Gather, need constant ends/limits in the
        # importer, i.e. pinned shapes.)
        every = g.op(A, "Equal", [scores, scores])
        allowed = g.op(A, "Trilu", [every], upper=0)
        scores = g.op(A, "Where", [allowed, scores, g.const(
            A, np.array(MASK_VALUE, np.float32))])
        probs = g.op(A, "Softmax", [scores], axis=-1)
        ctx = g.op(A, "MatMul", [probs, vh])      # [B, H, S, D]
        ctx = g.op(A, "Transpose", [ctx], perm=[0, 2, 1, 3])
        merged_shape = g.const(A, np.array([0, 0, hidden], np.int64))
        ctx = g.op(A, "Reshape", [ctx, merged_shape])
        attn = _linear(g, rng, f"{A}/o_proj", f"{P}.attn.o_proj", ctx,
                       hidden, hidden, std_out)
        x = g.op(L, "Add", [residual, attn])

        residual = x
        h = _layer_norm(g, rng, f"{L}/post_attention_layernorm",
                        f"{P}.post_attention_layernorm", x, hidden, eps)
        M = f"{L}/mlp"
        h = _linear(g, rng, f"{M}/fc1", f"{P}.mlp.fc1", h, hidden, mlp, std)
        # GELU as torch.onnx exports nn.GELU() at opset 17.
        act = f"{M}/act"
        d = g.op(act, "Div", [h, g.const(act, np.array(math.sqrt(2.0),
                                                       np.float32))])
        e = g.op(act, "Erf", [d])
        a = g.op(act, "Add", [e, g.const(act, np.array(1.0, np.float32))])
        h = g.op(act, "Mul", [h, a])
        h = g.op(act, "Mul", [h, g.const(act, np.array(0.5, np.float32))])
        h = _linear(g, rng, f"{M}/fc2", f"{P}.mlp.fc2", h, mlp, hidden,
                    std_out)
        x = g.op(L, "Add", [residual, h])

    # The last residual Add produces the graph output, as in an export.
    assert g.nodes[-1].output[0] == x
    g.nodes[-1].output[0] = "output"
    inputs = [helper.make_tensor_value_info(
        "hidden_states", TensorProto.FLOAT, ["batch", "sequence", hidden])]
    outputs = [helper.make_tensor_value_info(
        "output", TensorProto.FLOAT, ["batch", "sequence", hidden])]
    model = g.model(f"{name}_block", inputs, outputs)

    # Outlier channels: a few fixed hidden channels carry large-magnitude
    # activations (as in LLM residual streams); part of the model, shared
    # by calibration and evaluation inputs.
    oc = np.sort(rng.choice(hidden, cfg["num_outlier_channels"],
                            replace=False))
    outliers = dict(channels=[int(c) for c in oc],
                    offsets=[float(s) for s in np.round(
                        rng.choice([-1.0, 1.0], len(oc)) *
                        rng.uniform(8.0, 20.0, len(oc)), 3)])
    input_shapes = {"hidden_states": (cfg["batch"], cfg["sequence"], hidden)}
    return (model, g.parameter_names, input_shapes,
            dict(outliers=outliers, mask_value=MASK_VALUE))


def transformer_inputs(shapes, extra, rng):
    b, s, h = shapes["hidden_states"]
    x = rng.normal(0.0, 1.0, (b, s, h))
    # A per-sample per-channel drift, like embeddings of different texts.
    x += rng.normal(0.0, 0.2, (b, 1, h))
    ch = extra["outliers"]["channels"]
    off = np.asarray(extra["outliers"]["offsets"])
    x[..., ch] = off * (1.0 + 0.15 * rng.normal(0.0, 1.0, (b, s, len(ch))))
    return {"hidden_states": f32(x)}


# ---------------------------------------------------------------------------
# mlp
# ---------------------------------------------------------------------------

def _torch_linear_init(rng, dout, din):
    """nn.Linear's default init: U(-1/sqrt(in), 1/sqrt(in))."""
    bound = 1.0 / math.sqrt(din)
    return (f32(rng.uniform(-bound, bound, (dout, din))),
            f32(rng.uniform(-bound, bound, (dout,))))


def build_mlp(name, cfg, seed):
    rng = rng_for(seed, name, _WEIGHTS)
    g = GraphBuilder()
    dims = [cfg["in_features"]] + cfg["hidden"] + [cfg["classes"]]
    x = "input"
    for i in range(len(dims) - 1):
        layer = f"fc{i + 1}"
        w, b = _torch_linear_init(rng, dims[i + 1], dims[i])
        wn = g.init(f"{layer}.weight", w)
        bn = g.init(f"{layer}.bias", b)
        last = i == len(dims) - 2
        if last:
            g.nodes.append(helper.make_node(
                "Gemm", [x, wn, bn], ["logits"], name=f"/{layer}/Gemm",
                alpha=1.0, beta=1.0, transB=1))
        else:
            x = g.op(f"/{layer}", "Gemm", [x, wn, bn], alpha=1.0, beta=1.0,
                     transB=1)
            x = g.op(f"/act{i + 1}", "Relu", [x])
    inputs = [helper.make_tensor_value_info(
        "input", TensorProto.FLOAT, ["batch", cfg["in_features"]])]
    outputs = [helper.make_tensor_value_info(
        "logits", TensorProto.FLOAT, ["batch", cfg["classes"]])]
    model = g.model("mlp", inputs, outputs)
    return (model, g.parameter_names,
            {"input": (cfg["batch"], cfg["in_features"])}, {})


def mlp_inputs(shapes, extra, rng):
    b, f = shapes["input"]
    # Standardised features with a few heavier-tailed ones.
    x = rng.normal(0.0, 1.0, (b, f))
    x[:, ::16] = rng.standard_t(4.0, (b, len(range(0, f, 16))))
    return {"input": f32(x)}


# ---------------------------------------------------------------------------
# cnn
# ---------------------------------------------------------------------------

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def build_cnn(name, cfg, seed):
    rng = rng_for(seed, name, _WEIGHTS)
    g = GraphBuilder()
    x = "image"
    cin = cfg["channels"]
    for i, cout in enumerate(cfg["widths"]):
        conv, bn = f"conv{i + 1}", f"bn{i + 1}"
        k = 3
        # Kaiming normal (fan_out, relu) as torchvision ResNets; no bias
        # since a BatchNormalization follows.
        w = rng.normal(0.0, math.sqrt(2.0 / (cout * k * k)),
                       (cout, cin, k, k))
        wn = g.init(f"{conv}.weight", f32(w))
        x = g.op(f"/{conv}", "Conv", [x, wn], kernel_shape=[k, k],
                 pads=[1, 1, 1, 1], strides=[1, 1], dilations=[1, 1],
                 group=1)
        # Trained-looking BatchNorm: non-trivial affine and running stats.
        gamma = g.init(f"{bn}.weight",
                       f32(1.0 + rng.normal(0.0, 0.2, (cout,))))
        beta = g.init(f"{bn}.bias", f32(rng.normal(0.0, 0.1, (cout,))))
        mean = g.init(f"{bn}.running_mean",
                      f32(rng.normal(0.0, 0.3, (cout,))), parameter=False)
        var = g.init(f"{bn}.running_var",
                     f32(np.exp(rng.normal(0.0, 0.5, (cout,)))),
                     parameter=False)
        x = g.op(f"/{bn}", "BatchNormalization", [x, gamma, beta, mean, var],
                 epsilon=1e-5, momentum=0.9)
        x = g.op(f"/relu{i + 1}", "Relu", [x])
        if i < len(cfg["widths"]) - 1:
            x = g.op(f"/pool{i + 1}", "MaxPool", [x], kernel_shape=[2, 2],
                     strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=0)
        cin = cout
    x = g.op("/avgpool", "GlobalAveragePool", [x])
    x = g.op("", "Flatten", [x], axis=1)
    w, b = _torch_linear_init(rng, cfg["classes"], cin)
    g.nodes.append(helper.make_node(
        "Gemm", [x, g.init("fc.weight", w), g.init("fc.bias", b)],
        ["logits"], name="/fc/Gemm", alpha=1.0, beta=1.0, transB=1))
    hw = cfg["image_size"]
    inputs = [helper.make_tensor_value_info(
        "image", TensorProto.FLOAT, ["batch", cfg["channels"], hw, hw])]
    outputs = [helper.make_tensor_value_info(
        "logits", TensorProto.FLOAT, ["batch", cfg["classes"]])]
    model = g.model("cnn", inputs, outputs)
    return (model, g.parameter_names,
            {"image": (cfg["batch"], cfg["channels"], hw, hw)},
            dict(normalization=dict(mean=list(CIFAR_MEAN),
                                    std=list(CIFAR_STD))))


def _upsample(grid, size):
    """Bilinear upsampling of [..., h, w] to [..., size, size]."""
    h, w = grid.shape[-2:]
    ys = np.linspace(0.0, h - 1.0, size)
    xs = np.linspace(0.0, w - 1.0, size)
    y0 = np.minimum(np.floor(ys).astype(int), h - 2)
    x0 = np.minimum(np.floor(xs).astype(int), w - 2)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    g00 = grid[..., y0[:, None], x0[None, :]]
    g01 = grid[..., y0[:, None], x0[None, :] + 1]
    g10 = grid[..., y0[:, None] + 1, x0[None, :]]
    g11 = grid[..., y0[:, None] + 1, x0[None, :] + 1]
    return ((1 - fy) * ((1 - fx) * g00 + fx * g01) +
            fy * ((1 - fx) * g10 + fx * g11))


def cnn_inputs(shapes, extra, rng):
    b, c, h, w = shapes["image"]
    assert h == w
    # Natural-looking images in [0, 1]: a coloured low-frequency field,
    # finer detail and pixel noise; then normalised like CIFAR-10.
    base = rng.uniform(0.0, 1.0, (b, 1, 1, 1)) * 0.6 + 0.2
    tint = rng.normal(0.0, 0.1, (b, c, 1, 1))
    coarse = _upsample(rng.normal(0.0, 0.25, (b, c, 4, 4)), h)
    fine = _upsample(rng.normal(0.0, 0.1, (b, 1, 9, 9)), h)
    noise = rng.normal(0.0, 0.03, (b, c, h, w))
    img = np.clip(base + tint + coarse + fine + noise, 0.0, 1.0)
    mean = np.asarray(extra["normalization"]["mean"]).reshape(1, c, 1, 1)
    std = np.asarray(extra["normalization"]["std"]).reshape(1, c, 1, 1)
    return {"image": f32((img - mean) / std)}


# ---------------------------------------------------------------------------
# Registry and writer.
# ---------------------------------------------------------------------------

MODEL_CONFIGS = {
    "transformer": TRANSFORMER_CONFIGS["transformer"],
    "transformer_large": TRANSFORMER_CONFIGS["transformer_large"],
    "mlp": dict(in_features=256, hidden=[512, 512], classes=10, batch=8),
    "cnn": dict(channels=3, image_size=32, widths=[16, 32, 64], classes=10,
                batch=1),
}

_BUILDERS = {
    "transformer": (build_transformer, transformer_inputs),
    "transformer_large": (build_transformer, transformer_inputs),
    "mlp": (build_mlp, mlp_inputs),
    "cnn": (build_cnn, cnn_inputs),
}

_DTYPE_NAMES = {TensorProto.FLOAT: "float32", TensorProto.INT64: "int64"}


def build_model(name, seed=0):
    """Returns (onnx.ModelProto, info dict without sample counts, input
    generator: rng -> {input name: array})."""
    cfg = MODEL_CONFIGS[name]
    build, make_inputs = _BUILDERS[name]
    model, params, shapes, extra = build(name, cfg, seed)
    onnx.checker.check_model(model, full_check=True)

    def vi_info(v):
        t = v.type.tensor_type
        return dict(name=v.name, dtype=_DTYPE_NAMES[t.elem_type],
                    shape=[d.dim_param if d.HasField("dim_param")
                           else d.dim_value for d in t.shape.dim])

    n_params = sum(int(np.prod(i.dims)) for i in model.graph.initializer
                   if i.name in params)
    n_init = sum(int(np.prod(i.dims)) for i in model.graph.initializer)
    info = dict(
        name=name,
        opset=OPSET,
        ir_version=IR_VERSION,
        inputs=[dict(vi_info(v), sample_shape=list(shapes[v.name]))
                for v in model.graph.input],
        outputs=[vi_info(v) for v in model.graph.output],
        parameters=n_params,
        initializer_elements=n_init,
        config=dict(cfg, **extra),
        seed=seed,
    )
    return model, info, (lambda rng: make_inputs(shapes, extra, rng))


def sample_dir_name(i, count):
    return f"sample_{i:0{max(3, len(str(max(count - 1, 0))))}d}"


def write_samples(directory, make_inputs, rng, count):
    """Writes COUNT sample folders; a rerun with another count leaves exactly
    COUNT (older sample folders and anything else inside them removed)."""
    os.makedirs(directory, exist_ok=True)
    names = [sample_dir_name(i, count) for i in range(count)]
    for entry in os.listdir(directory):
        if re.fullmatch(r"sample_\d+", entry) and entry not in names:
            shutil.rmtree(os.path.join(directory, entry))
    for name in names:
        d = os.path.join(directory, name)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        for input_name, arr in make_inputs(rng).items():
            np.save(os.path.join(d, input_name + ".npy"), arr,
                    allow_pickle=False)


def write_model(out_dir, name, seed=0, calib=None, eval_=None):
    """Writes DIR/<name>/{model.onnx,info.json,calibration/,eval/}; returns
    the info dict."""
    dc, de = DEFAULT_COUNTS[name]
    calib = dc if calib is None else calib
    eval_ = de if eval_ is None else eval_
    model, info, make_inputs = build_model(name, seed)
    mdir = os.path.join(out_dir, name)
    os.makedirs(mdir, exist_ok=True)
    data = model.SerializeToString(deterministic=True)
    with open(os.path.join(mdir, "model.onnx"), "wb") as f:
        f.write(data)
    write_samples(os.path.join(mdir, "calibration"), make_inputs,
                  rng_for(seed, name, _CALIB), calib)
    write_samples(os.path.join(mdir, "eval"), make_inputs,
                  rng_for(seed, name, _EVAL), eval_)
    info = dict(info, calibration_samples=calib, eval_samples=eval_,
                model_bytes=len(data))
    with open(os.path.join(mdir, "info.json"), "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
        f.write("\n")
    return info


def parse_models(text):
    names = []
    for n in (s.strip() for s in text.split(",")):
        if not n:
            continue
        if n == "all":
            names.extend(ALL_MODELS)
        elif n in ALL_MODELS:
            names.append(n)
        else:
            raise argparse.ArgumentTypeError(
                f"unknown model '{n}' (choose from {', '.join(ALL_MODELS)}"
                ", all)")
    return list(dict.fromkeys(names))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--models", type=parse_models,
                   default=list(SMALL_MODELS),
                   help="comma-separated list of " + ", ".join(ALL_MODELS) +
                        " or 'all' (default: transformer,mlp,cnn)")
    p.add_argument("--calib", type=int, default=None,
                   help="calibration samples per model (default 64; 8 for "
                        "transformer_large)")
    p.add_argument("--eval", type=int, default=None, dest="eval_",
                   help="evaluation samples per model (default 16; 4 for "
                        "transformer_large)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for n in ("calib", "eval_"):
        if getattr(args, n) is not None and getattr(args, n) < 0:
            p.error(f"--{n.rstrip('_')} must be >= 0")
    for name in args.models:
        t0 = time.perf_counter()
        info = write_model(args.out, name, args.seed, args.calib, args.eval_)
        print(f"{name}: {info['parameters']} parameters, "
              f"{info['model_bytes']} bytes, "
              f"{info['calibration_samples']} calibration + "
              f"{info['eval_samples']} eval samples "
              f"({time.perf_counter() - t0:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

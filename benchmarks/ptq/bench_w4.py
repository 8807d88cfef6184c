#!/usr/bin/env python3
"""4-bit and dynamic-int8 weights on transformer-like models: ours against
onnxruntime's MatMulNBits and quantize_dynamic, in one run (issue 21).

    .venv/bin/python benchmarks/ptq/bench_w4.py --build-dir build
        [--models llama,qwen2,bert,vit] [--layers 2] [--seq 32] [--eval 4]
        [--threads N] [--runs 100] [--out build/benchmarks/ptq]

Models are generated with onnx.helper (fixed seed, random weights scaled
like an initialised transformer): Llama-like (RMSNorm, q/k/v/o
projections, 4 heads, SwiGLU MLP with intermediate 688 — not a multiple of
32 or 128, so the last 4-bit block is partial), Qwen2-like (Llama's block
with q/k/v biases), BERT-like (post-LayerNorm, biased projections, GELU MLP
1024) and ViT-like (pre-LayerNorm, GELU MLP 1024), hidden 256.

Systems, each against onnxruntime's float output on the same held-back
inputs (SQNR, dB) and timed (median ms, same thread count, alternating
rounds, best of 3):
  ours w4 g32/g128 with --int4-scale=mse (default), signed-extreme (ORT's
  convention) and absmax (max|w|/7), and --weight-asymmetric (uint4) with
  mse (default) and minmax (ORT's asymmetric range);
  ours w8a8-dynamic;
  onnxruntime MatMulNBits, 4 bits, block 32/128, symmetric and asymmetric,
  its weights from onnxruntime's own quantizer (quantize_matmul_4bits, the
  C++ function MatMulNBitsQuantizer's DefaultWeightOnlyQuantizer calls;
  the Python class itself needs onnx_ir, which is not installed here, so
  the MatMul -> MatMulNBits rewrite is done here the same way);
  onnxruntime quantize_dynamic (QInt8 weights, per tensor and per channel).
Writes OUT/bench_w4.json. Never asserts.
"""

import argparse
import json
import os
import re
import subprocess
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as T, helper, numpy_helper
from onnxruntime.capi._pybind_state import quantize_matmul_4bits
from onnxruntime.quantization import QuantType, quantize_dynamic

HIDDEN, HEADS = 256, 4
CONFIGS = {
    "llama": dict(norm="rms", mlp="swiglu", inter=688, qkv_bias=False,
                  bias=False, pre_norm=True),
    "qwen2": dict(norm="rms", mlp="swiglu", inter=688, qkv_bias=True,
                  bias=False, pre_norm=True),
    "bert": dict(norm="ln", mlp="gelu", inter=1024, qkv_bias=True, bias=True,
                 pre_norm=False),
    "vit": dict(norm="ln", mlp="gelu", inter=1024, qkv_bias=True, bias=True,
                pre_norm=True),
    # GPT-2: pre-LayerNorm, tanh GELU with Pow(x, 3) as transformers exports
    # its NewGELUActivation, the causal mask as Where(bias[:, :, :S, :S],
    # scores, finfo(float32).min) on a sliced [1, 1, P, P] bool buffer.
    "gpt2": dict(norm="ln", mlp="gelu_tanh", inter=1024, qkv_bias=True,
                 bias=True, pre_norm=True, mask="where"),
}
# Causal masks other configs can take (build(..., mask=...)): "where" (as
# GPT-2 above), "masked_fill" (scores.masked_fill(tril == 0, -inf):
# Where(Equal(tril, 0), -inf, scores)), None.
MASKS = ("where", "masked_fill", None)
MAX_POS = 128


class Graph:
    def __init__(self, seed):
        self.nodes, self.inits, self.n = [], [], 0
        self.rng = np.random.default_rng(seed)

    def name(self, p):
        self.n += 1
        return f"{p}_{self.n}"

    def const(self, arr, name=None):
        name = name or self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, kind, ins, name=None, **attrs):
        out = self.name(kind.lower())
        self.nodes.append(helper.make_node(kind, ins, [out],
                                           name=name or out, **attrs))
        return out

    def linear(self, x, k, n, path, bias):
        # Weights like an initialised transformer, with a few outlier
        # columns as trained models have.
        w = self.rng.standard_normal((k, n)) / np.sqrt(k)
        w[:, self.rng.integers(0, n, 2)] *= 4
        w = w.astype(np.float32)
        y = self.op("MatMul", [x, self.const(w, f"{path}.weight")],
                    name=f"{path}/MatMul")
        if bias:
            b = (self.rng.standard_normal(n) * 0.02).astype(np.float32)
            y = self.op("Add", [y, self.const(b, f"{path}.bias")])
        return y

    def norm(self, x, kind, path):
        g = self.const(np.ones(HIDDEN, np.float32), f"{path}.weight")
        if kind == "ln":
            b = self.const(np.zeros(HIDDEN, np.float32), f"{path}.bias")
            return self.op("LayerNormalization", [x, g, b], axis=-1,
                           epsilon=1e-5)
        ms = self.op("ReduceMean", [self.op("Mul", [x, x])], axes=[-1],
                     keepdims=1)
        r = self.op("Sqrt", [self.op("Add", [ms, self.const(np.float32(1e-6))])])
        return self.op("Mul", [self.op("Div", [x, r]), g])

    def attention(self, x, seq, cfg, path):
        d = HIDDEN // HEADS

        def heads(t):
            t = self.op("Reshape", [t, self.const(np.array([1, seq, HEADS, d],
                                                            np.int64))])
            return self.op("Transpose", [t], perm=[0, 2, 1, 3])

        q = heads(self.linear(x, HIDDEN, HIDDEN, f"{path}.q_proj", cfg["qkv_bias"]))
        k = heads(self.linear(x, HIDDEN, HIDDEN, f"{path}.k_proj", cfg["qkv_bias"]))
        v = heads(self.linear(x, HIDDEN, HIDDEN, f"{path}.v_proj", cfg["qkv_bias"]))
        kt = self.op("Transpose", [k], perm=[0, 1, 3, 2])
        s = self.op("Mul", [self.op("MatMul", [q, kt]),
                            self.const(np.float32(1 / np.sqrt(d)))])
        s = self.causal_mask(s, seq, cfg.get("mask"))
        ctx = self.op("MatMul", [self.op("Softmax", [s], axis=-1), v])
        ctx = self.op("Transpose", [ctx], perm=[0, 2, 1, 3])
        ctx = self.op("Reshape", [ctx, self.const(np.array([1, seq, HIDDEN],
                                                           np.int64))])
        return self.linear(ctx, HIDDEN, HIDDEN, f"{path}.o_proj", cfg["bias"])

    def causal_mask(self, s, seq, kind):
        if kind is None:
            return s
        tril = np.tril(np.ones((max(MAX_POS, seq),) * 2, bool))[None, None]
        starts = self.const(np.array([0, 0], np.int64))
        ends = self.const(np.array([seq, seq], np.int64))
        axes = self.const(np.array([2, 3], np.int64))
        if kind == "where":
            causal = self.op("Slice", [self.const(tril, self.name("bias")),
                                       starts, ends, axes])
            return self.op("Where", [causal, s, self.const(
                np.float32(np.finfo(np.float32).min))])
        assert kind == "masked_fill", kind
        m = self.op("Slice", [self.const(tril.astype(np.float32)), starts,
                              ends, axes])
        hidden = self.op("Equal", [m, self.const(np.float32(0))])
        return self.op("Where", [hidden, self.const(np.float32(-np.inf)), s])

    def mlp(self, x, cfg, path):
        inter = cfg["inter"]
        if cfg["mlp"] == "swiglu":
            g = self.linear(x, HIDDEN, inter, f"{path}.gate_proj", False)
            u = self.linear(x, HIDDEN, inter, f"{path}.up_proj", False)
            h = self.op("Mul", [self.op("Mul", [g, self.op("Sigmoid", [g])]), u])
            return self.linear(h, inter, HIDDEN, f"{path}.down_proj", False)
        h = self.linear(x, HIDDEN, inter, f"{path}.fc1", True)
        if cfg["mlp"] == "gelu_tanh":
            cube = self.op("Pow", [h, self.const(np.float32(3))])
            inner = self.op("Add", [h, self.op("Mul", [
                self.const(np.float32(0.044715)), cube])])
            t = self.op("Tanh", [self.op("Mul", [
                self.const(np.float32(np.sqrt(2 / np.pi))), inner])])
            h = self.op("Mul", [self.op("Mul", [self.const(np.float32(0.5)), h]),
                                self.op("Add", [self.const(np.float32(1)), t])])
            return self.linear(h, inter, HIDDEN, f"{path}.fc2", True)
        erf = self.op("Erf", [self.op("Div", [h, self.const(np.float32(np.sqrt(2)))])])
        h = self.op("Mul", [self.op("Mul", [h, self.const(np.float32(0.5))]),
                            self.op("Add", [erf, self.const(np.float32(1))])])
        return self.linear(h, inter, HIDDEN, f"{path}.fc2", True)


def build(arch, layers, seq, seed, mask="default"):
    cfg = dict(CONFIGS[arch])
    if mask != "default":
        cfg["mask"] = mask
    g = Graph(seed)
    x = "hidden_states"
    for i in range(layers):
        p = f"model.layers.{i}"
        if cfg["pre_norm"]:
            x = g.op("Add", [x, g.attention(g.norm(x, cfg["norm"], f"{p}.ln1"),
                                            seq, cfg, f"{p}.self_attn")])
            x = g.op("Add", [x, g.mlp(g.norm(x, cfg["norm"], f"{p}.ln2"), cfg,
                                      f"{p}.mlp")])
        else:
            x = g.norm(g.op("Add", [x, g.attention(x, seq, cfg,
                                                   f"{p}.attention")]),
                       cfg["norm"], f"{p}.ln1")
            x = g.norm(g.op("Add", [x, g.mlp(x, cfg, f"{p}.mlp")]), cfg["norm"],
                       f"{p}.ln2")
    g.nodes.append(helper.make_node("Identity", [x], ["output"]))
    graph = helper.make_graph(
        g.nodes, arch,
        [helper.make_tensor_value_info("hidden_states", T.FLOAT, [1, seq, HIDDEN])],
        [helper.make_tensor_value_info("output", T.FLOAT, [1, seq, HIDDEN])],
        g.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                             ir_version=8)


def matmulnbits(model, block, symmetric):
    """Every MatMul with a 2-D initializer B [K, N] becomes com.microsoft
    MatMulNBits with onnxruntime's own 4-bit quantization of B."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inits = {i.name: i for i in m.graph.initializer}
    nodes = []
    for node in m.graph.node:
        b = inits.get(node.input[1]) if node.op_type == "MatMul" else None
        if b is None or len(b.dims) != 2:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(b).astype(np.float32)
        k, n = w.shape
        kb = -(-k // block)
        wp = np.zeros((kb * block, n), np.float32)
        wp[:k] = w
        packed = np.zeros((n, kb, block // 2), np.uint8)
        scales = np.zeros((n, kb), np.float32)
        zp = np.zeros((n, (kb + 1) // 2), np.uint8)
        quantize_matmul_4bits(packed, wp, scales, zp, block, n, kb * block,
                              symmetric)
        ins = [node.input[0], b.name + ".q4", b.name + ".scales"]
        m.graph.initializer.extend([numpy_helper.from_array(packed, ins[1]),
                                    numpy_helper.from_array(scales.ravel(), ins[2])])
        if not symmetric:
            ins.append(b.name + ".zp")
            m.graph.initializer.append(numpy_helper.from_array(zp.ravel(), ins[3]))
        nodes.append(helper.make_node("MatMulNBits", ins, list(node.output),
                                      name=node.name, domain="com.microsoft",
                                      K=k, N=n, bits=4, block_size=block))
    used = {i for nd in nodes for i in nd.input}
    keep = [i for i in m.graph.initializer if i.name in used]
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    del m.graph.initializer[:]
    m.graph.initializer.extend(keep)
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return m


def sqnr(refs, gots):
    ref = np.concatenate([r.ravel() for r in refs]).astype(np.float64)
    got = np.concatenate([g.ravel() for g in gots]).astype(np.float64)
    return float(10 * np.log10(np.sum(ref ** 2) / np.sum((got - ref) ** 2)))


def session(model, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString() if
                                isinstance(model, onnx.ModelProto) else model,
                                so, providers=["CPUExecutionProvider"])


def ort_ms(sess, feeds, runs):
    for _ in range(10):
        sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def main(argv=None):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(root, "build"))
    ap.add_argument("--models", default="llama,qwen2,bert,vit")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--eval", type=int, default=4)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=100,
                    help="timed runs per latency (0: skip)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    out = args.out or os.path.join(args.build_dir, "benchmarks", "ptq")
    os.makedirs(out, exist_ok=True)
    bindir = os.path.join(args.build_dir, "bin")
    tmp = tempfile.mkdtemp(prefix="bench_w4_")
    ours_systems = {"ours_w8a8_dynamic": ["--quantize=w8a8-dynamic"]}
    for g in (32, 128):
        for scale in ("mse", "signed-extreme", "absmax"):
            ours_systems[f"ours_w4_g{g}_{scale}"] = [
                "--quantize=w4", f"--group-size={g}", f"--int4-scale={scale}"]
        for scale in ("mse", "minmax"):
            ours_systems[f"ours_w4_g{g}_uint4_{scale}"] = [
                "--quantize=w4", f"--group-size={g}", "--weight-asymmetric",
                f"--int4-scale={scale}"]
    results = {}
    for arch in args.models.split(","):
        model = build(arch, args.layers, args.seq, seed=len(arch))
        path = os.path.join(tmp, f"{arch}.onnx")
        onnx.save(model, path)
        rng = np.random.default_rng(7)
        xs = [rng.standard_normal((1, args.seq, HIDDEN)).astype(np.float32)
              for _ in range(args.eval)]
        xdir = []
        for i, x in enumerate(xs):
            p = os.path.join(tmp, f"{arch}_x{i}.npy")
            np.save(p, x)
            xdir.append(p)
        fsess = session(model, args.threads)
        refs = [fsess.run(None, {"hidden_states": x})[0] for x in xs]
        systems = {"onnxruntime_float": ("ort", fsess)}
        for g in (32, 128):
            for sym in (True, False):
                key = f"onnxruntime_matmulnbits_g{g}_{'sym' if sym else 'asym'}"
                systems[key] = ("ort", session(matmulnbits(model, g, sym),
                                               args.threads))
        for per_channel in (False, True):
            qpath = os.path.join(tmp, f"{arch}_dyn{int(per_channel)}.onnx")
            quantize_dynamic(path, qpath, weight_type=QuantType.QInt8,
                             per_channel=per_channel)
            key = "onnxruntime_quantize_dynamic" + ("_per_channel" if per_channel else "")
            systems[key] = ("ort", session(qpath, args.threads))
        systems["ours_float"] = ("ours", [])
        for key, flags in ours_systems.items():
            systems[key] = ("ours", flags)
        entry = {}
        for key, (kind, what) in systems.items():
            if kind == "ort":
                gots = [what.run(None, {"hidden_states": x})[0] for x in xs]
                entry[key] = {"sqnr_db": sqnr(refs, gots)}
                continue
            so = os.path.join(tmp, f"{arch}_{key}.so")
            t = time.perf_counter()
            r = subprocess.run([os.path.join(bindir, "quant-compile"), path,
                                "-o", so, *what], capture_output=True, text=True)
            compile_s = time.perf_counter() - t
            if r.returncode != 0:
                entry[key] = {"error": r.stderr.strip()[-400:]}
                continue
            gots = []
            for p in xdir:
                subprocess.run([os.path.join(bindir, "quant-run"), so, "--input",
                                f"hidden_states={p}", "--output-dir", tmp],
                               check=True, capture_output=True)
                gots.append(np.load(os.path.join(tmp, "output.npy")))
            entry[key] = {"sqnr_db": sqnr(refs, gots), "compile_s": compile_s,
                          "so": so}
        if args.runs > 0:
            for _ in range(3):
                for key, (kind, what) in systems.items():
                    e = entry[key]
                    if "error" in e:
                        continue
                    if kind == "ort":
                        ms = ort_ms(what, {"hidden_states": xs[0]}, args.runs)
                    else:
                        r = subprocess.run(
                            [os.path.join(bindir, "quant-run"), e["so"], "--bench",
                             str(args.runs), "--warmup", "10", "--threads",
                             str(args.threads), "--input",
                             f"hidden_states={xdir[0]}"],
                            check=True, capture_output=True, text=True)
                        ms = float(re.search(r"median ([\d.]+) ms", r.stdout).group(1))
                    e["latency_ms"] = min(e.get("latency_ms", ms), ms)
        for e in entry.values():
            e.pop("so", None)
        results[arch] = entry
        print(arch)
        for key, e in entry.items():
            print(f"  {key:44s} " + (f"SQNR {e['sqnr_db']:6.2f} dB"
                                     if "sqnr_db" in e else e.get("error", "")) +
                  (f"  {e['latency_ms']:.3f} ms" if "latency_ms" in e else ""))
    report = {"hidden": HIDDEN, "heads": HEADS, "layers": args.layers,
              "seq": args.seq, "eval_inputs": args.eval,
              "threads": args.threads, "runs": args.runs,
              "onnxruntime": ort.__version__,
              "configs": CONFIGS, "results": results}
    with open(os.path.join(out, "bench_w4.json"), "w") as f:
        json.dump(report, f, indent=2)
    print("wrote", os.path.join(out, "bench_w4.json"))


if __name__ == "__main__":
    main()

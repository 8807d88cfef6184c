"""Boolean attention masks in the fused attention kernel (issue 22): GPT-2's
Where(causal bool buffer slice, scores, finfo.min), torch's
scores.masked_fill(mask, -inf) (Where(mask, -inf, scores)) on a constant or
an input mask, compiled with the kernel calls, must call
qopt_kernel_attention_f32 and match onnxruntime and our unfused build
(--no-kernels); a masked_fill with -1e9 on an input mask (a fully masked
row's softmax would differ from the additive form) must stay unfused and
still match onnxruntime.
"""

import os
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "ptq"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
bench_w4 = pytest.importorskip("bench_w4")
from test_fused_attention import (check, compile_model, emitted,  # noqa: E402
                                  run_ort, run_ours)

F32_MIN = np.finfo(np.float32).min


def masked_attention(seq, heads, dim, form):
    """x [1, seq, heads*dim] projected to Q, K, V with head transposes,
    scores * 1/sqrt(dim), then the mask `form`:
      where_causal      Where(Slice(tril bool [1,1,P,P]), S, finfo.min)
      fill_causal       Where(Equal(Slice(tril f32), 0), -inf, S)
      where_input       Where(mask bool input [1,1,1,seq], S, finfo.min)
      fill_input        Where(Not(mask input), -inf, S)
      fill_input_1e9    Where(Not(mask input), -1e9, S)   (not fused)
    softmax, ·V, heads merged."""
    rng = np.random.default_rng(seq + heads * 3 + len(form))
    hid = heads * dim
    nodes, inits = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(kind, ins, out, **attrs):
        nodes.append(helper.make_node(kind, ins, [out], **attrs))
        return out

    def proj(name):
        w = const(f"{name}.w", (rng.standard_normal((hid, hid)) /
                                np.sqrt(hid)).astype(np.float32))
        y = op("MatMul", ["x", w], f"{name}.y")
        y = op("Reshape", [y, const(f"{name}.s", np.array(
            [1, seq, heads, dim], np.int64))], f"{name}.r")
        return op("Transpose", [y], f"{name}.t", perm=[0, 2, 1, 3])

    q, k, v = proj("q"), proj("k"), proj("v")
    kt = op("Transpose", [k], "kt", perm=[0, 1, 3, 2])
    s = op("Mul", [op("MatMul", [q, kt], "qk"),
                   const("c", np.float32(1 / np.sqrt(dim)))], "scores")
    inputs = [helper.make_tensor_value_info("x", T.FLOAT, [1, seq, hid])]
    pos = max(64, seq)
    tril = np.tril(np.ones((pos, pos), bool))[None, None]
    sl = [const("st", np.array([0, 0], np.int64)),
          const("en", np.array([seq, seq], np.int64)),
          const("ax", np.array([2, 3], np.int64))]
    if form == "where_causal":
        c = op("Slice", [const("bias", tril), *sl], "causal")
        s = op("Where", [c, s, const("minv", np.float32(F32_MIN))], "masked")
    elif form == "fill_causal":
        m = op("Slice", [const("tri", tril.astype(np.float32)), *sl], "m")
        hide = op("Equal", [m, const("z", np.float32(0))], "hide")
        s = op("Where", [hide, const("ninf", np.float32(-np.inf)), s],
               "masked")
    else:
        inputs.append(helper.make_tensor_value_info("mask", T.BOOL,
                                                    [1, 1, 1, seq]))
        if form == "where_input":
            s = op("Where", ["mask", s, const("minv", np.float32(F32_MIN))],
                   "masked")
        else:
            fill = -np.inf if form == "fill_input" else -1e9
            hide = op("Not", ["mask"], "hide")
            s = op("Where", [hide, const("fill", np.float32(fill)), s],
                   "masked")
    p = op("Softmax", [s], "probs", axis=-1)
    o = op("Transpose", [op("MatMul", [p, v], "ctx")], "merged",
           perm=[0, 2, 1, 3])
    op("Reshape", [o, const("os", np.array([1, seq, hid], np.int64))],
       "output")
    graph = helper.make_graph(
        nodes, "masked_attention", inputs,
        [helper.make_tensor_value_info("output", T.FLOAT, [1, seq, hid])],
        inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                             ir_version=8)


def feeds_for(seq, hid, form):
    rng = np.random.default_rng(seq)
    feeds = {"x": rng.standard_normal((1, seq, hid)).astype(np.float32)}
    if "input" in form:
        m = np.ones((1, 1, 1, seq), bool)
        m[..., seq - 5:] = False
        feeds["mask"] = m
    return feeds


@pytest.mark.parametrize("seq,heads,dim,form", [
    (32, 4, 64, "where_causal"),
    (17, 2, 40, "fill_causal"),
    (300, 2, 32, "where_causal"),  # two key tiles (online softmax)
    (24, 2, 32, "where_input"),
    (24, 3, 16, "fill_input"),
])
def test_bool_masks_fused(build_dir, tmp_path, seq, heads, dim, form):
    model = masked_attention(seq, heads, dim, form)
    check(build_dir, tmp_path, model, feeds_for(seq, heads * dim, form),
          ["qopt_kernel_attention_f32"])


def test_finite_fill_on_input_mask_not_fused(build_dir, tmp_path):
    # masked_fill(-1e9) on a run-time mask: S + -1e9 is not -1e9, so a row
    # whose keys are all hidden would get softmax(S) instead of a uniform
    # row: left to the generic lowering, which still matches onnxruntime.
    seq, heads, dim = 16, 2, 16
    model = masked_attention(seq, heads, dim, "fill_input_1e9")
    path = str(tmp_path / "model.onnx")
    onnx.save(model, path)
    assert "@qopt_kernel_attention_f32" not in emitted(build_dir, path,
                                                       str(tmp_path))
    so = str(tmp_path / "m.so")
    compile_model(build_dir, path, so)
    feeds = feeds_for(seq, heads * dim, "fill_input")
    feeds["mask"][..., :] = False  # every key hidden
    got = run_ours(build_dir, so, feeds, str(tmp_path))
    ref = run_ort(path, feeds)
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()


@pytest.mark.parametrize("arch,mask", [("gpt2", "default"),
                                       ("llama", "masked_fill")])
def test_causal_transformer_blocks(build_dir, tmp_path, arch, mask):
    # benchmarks/cpu/bench_transformers.py's GPT-2 block (Where on a bool
    # buffer) and a Llama block with masked_fill, 2 layers.
    model = bench_w4.build(arch, 2, 32, seed=5, mask=mask)
    x = np.random.default_rng(5).standard_normal(
        (1, 32, bench_w4.HIDDEN)).astype(np.float32)
    check(build_dir, tmp_path, model, {"hidden_states": x},
          ["qopt_kernel_attention_f32", "qopt_kernel_norm_f32"])

"""RotaryEmbedding, TensorScatter, CausalConvWithState and SwiGLU compiled by
quant-compile and run by quant-run against onnxruntime where it implements
the operator, else onnx's reference implementation (named in each case)."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from test_attention import compile_and_run

F32, I64 = TensorProto.FLOAT, TensorProto.INT64


def model_of(op, inputs, outputs, opset, **attrs):
    node = helper.make_node(op, [i[0] for i in inputs],
                            [o[0] for o in outputs], **attrs)
    graph = helper.make_graph(
        [node], op,
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs if n],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs])
    return helper.make_model(graph,
                             opset_imports=[helper.make_opsetid("", opset)])


def reference(model, feeds, use_ort):
    names = [o.name for o in model.graph.output]
    if use_ort:
        sess = ort.InferenceSession(model.SerializeToString(),
                                    providers=["CPUExecutionProvider"])
        return dict(zip(names, sess.run(names, feeds)))
    return dict(zip(names, ReferenceEvaluator(model).run(names, feeds)))


def check(model, feeds, tmp_path, build_dir, use_ort, tol=1e-5):
    ours = compile_and_run(model, feeds, tmp_path, build_dir)
    for name, want in reference(model, feeds, use_ort).items():
        assert ours[name].shape == want.shape, name
        np.testing.assert_allclose(ours[name], want, rtol=tol, atol=tol,
                                   err_msg=name)


@pytest.mark.parametrize("interleaved,rot,three_d,pos",
                         [(0, 0, False, True), (1, 0, False, True),
                          (0, 4, True, True), (1, 6, False, False)])
def test_rotary_embedding(build_dir, tmp_path, interleaved, rot, three_d, pos):
    rng = np.random.default_rng(interleaved + rot)
    B, H, S, D, P = 2, 3, 5, 8, 16
    half = (rot or D) // 2
    shape = [B, S, H * D] if three_d else [B, H, S, D]
    feeds = {"x": rng.standard_normal(shape).astype(np.float32)}
    if pos:
        feeds["cos"] = rng.standard_normal((P, half)).astype(np.float32)
        feeds["sin"] = rng.standard_normal((P, half)).astype(np.float32)
        feeds["pos"] = rng.integers(0, P, (B, S)).astype(np.int64)
    else:
        feeds["cos"] = rng.standard_normal((B, S, half)).astype(np.float32)
        feeds["sin"] = rng.standard_normal((B, S, half)).astype(np.float32)
    attrs = {"interleaved": interleaved}
    if rot:
        attrs["rotary_embedding_dim"] = rot
    if three_d:
        attrs["num_heads"] = H
    ins = [("x", F32, shape), ("cos", F32, list(feeds["cos"].shape)),
           ("sin", F32, list(feeds["sin"].shape))]
    if pos:
        ins.append(("pos", I64, [B, S]))
    model = model_of("RotaryEmbedding", ins, [("y", F32, shape)], 23, **attrs)
    # onnxruntime's RotaryEmbedding-23 needs position_ids with 4-D inputs
    # here; the others are judged by onnx's reference.
    check(model, feeds, tmp_path, build_dir, use_ort=pos and not three_d)


def test_rotary_embedding_position_out_of_range(build_dir, tmp_path):
    B, H, S, D, P = 1, 1, 2, 4, 3
    model = model_of("RotaryEmbedding",
                     [("x", F32, [B, H, S, D]), ("cos", F32, [P, D // 2]),
                      ("sin", F32, [P, D // 2]), ("pos", I64, [B, S])],
                     [("y", F32, [B, H, S, D])], 23)
    feeds = {"x": np.ones((B, H, S, D), np.float32),
             "cos": np.ones((P, D // 2), np.float32),
             "sin": np.ones((P, D // 2), np.float32),
             "pos": np.array([[0, 3]], np.int64)}
    with pytest.raises(AssertionError, match="position_ids out of range"):
        compile_and_run(model, feeds, tmp_path, build_dir)


@pytest.mark.parametrize("mode", ["linear", "circular"])
def test_tensor_scatter(build_dir, tmp_path, mode):
    rng = np.random.default_rng(7)
    B, H, L, S, D = 3, 2, 6, 3, 4
    feeds = {"cache": rng.standard_normal((B, H, L, D)).astype(np.float32),
             "upd": rng.standard_normal((B, H, S, D)).astype(np.float32),
             "w": np.array([0, 2, 3 if mode == "linear" else 5], np.int64)}
    model = model_of("TensorScatter",
                     [("cache", F32, [B, H, L, D]), ("upd", F32, [B, H, S, D]),
                      ("w", I64, [B])],
                     [("y", F32, [B, H, L, D])], 24, mode=mode)
    check(model, feeds, tmp_path, build_dir, use_ort=False)


@pytest.mark.parametrize("past,bias,act,k", [(True, True, "silu", 4),
                                             (False, False, "none", 3),
                                             (False, True, "swish", 1)])
def test_causal_conv_with_state(build_dir, tmp_path, past, bias, act, k):
    rng = np.random.default_rng(k)
    B, C, L = 2, 5, 7
    feeds = {"x": rng.standard_normal((B, C, L)).astype(np.float32),
             "w": rng.standard_normal((C, 1, k)).astype(np.float32)}
    ins = [("x", F32, [B, C, L]), ("w", F32, [C, 1, k])]
    if bias:
        feeds["b"] = rng.standard_normal(C).astype(np.float32)
    ins.append(("b", F32, [C]) if bias else ("", F32, None))
    if past:
        feeds["p"] = rng.standard_normal((B, C, k - 1)).astype(np.float32)
        ins.append(("p", F32, [B, C, k - 1]))
    model = model_of("CausalConvWithState", ins,
                     [("y", F32, [B, C, L]), ("s", F32, [B, C, k - 1])], 27,
                     activation=act)
    check(model, feeds, tmp_path, build_dir, use_ort=False)


def test_swiglu(build_dir, tmp_path):
    rng = np.random.default_rng(9)
    feeds = {"a": rng.standard_normal((3, 16)).astype(np.float32),
             "b": rng.standard_normal((3, 16)).astype(np.float32)}
    model = model_of("SwiGLU", [("a", F32, [3, 16]), ("b", F32, [3, 16])],
                     [("y", F32, [3, 16])], 28, alpha=1.702)
    check(model, feeds, tmp_path, build_dir, use_ort=False)


@pytest.mark.parametrize("rule,per_dim,past", [("linear", False, False),
                                               ("gated", True, True),
                                               ("delta", False, True),
                                               ("gated_delta", False, False)])
def test_linear_attention(build_dir, tmp_path, rule, per_dim, past):
    """LinearAttention (GQA 4 over 2 heads) against onnx's reference."""
    rng = np.random.default_rng(len(rule))
    B, T, Hq, Hkv, dk, dv = 2, 5, 4, 2, 4, 3
    feeds = {"q": rng.standard_normal((B, T, Hq * dk)).astype(np.float32),
             "k": rng.standard_normal((B, T, Hkv * dk)).astype(np.float32),
             "v": rng.standard_normal((B, T, Hkv * dv)).astype(np.float32)}
    ins = [("q", F32, [B, T, Hq * dk]), ("k", F32, [B, T, Hkv * dk]),
           ("v", F32, [B, T, Hkv * dv])]
    if past:
        feeds["p"] = rng.standard_normal((B, Hkv, dk, dv)).astype(np.float32)
    ins.append(("p", F32, [B, Hkv, dk, dv]) if past else ("", F32, None))
    if "gated" in rule:
        w = Hkv * dk if per_dim else Hkv
        feeds["d"] = -rng.random((B, T, w)).astype(np.float32)
        ins.append(("d", F32, [B, T, w]))
    elif "delta" in rule:
        ins.append(("", F32, None))
    if "delta" in rule:
        feeds["b"] = rng.random((B, T, Hkv)).astype(np.float32)
        ins.append(("b", F32, [B, T, Hkv]))
    model = model_of("LinearAttention", ins,
                     [("y", F32, [B, T, Hq * dv]),
                      ("s", F32, [B, Hkv, dk, dv])], 27,
                     q_num_heads=Hq, kv_num_heads=Hkv, update_rule=rule)
    check(model, feeds, tmp_path, build_dir, use_ort=False, tol=1e-4)

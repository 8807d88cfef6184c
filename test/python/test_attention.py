"""ONNX Attention (opset 23/24) compiled by quant-compile and run by
quant-run against onnxruntime: GQA with causal masking, a float or bool
attn_mask (a short last dim padded), a past key/value cache with the
present outputs, softcap, scale, the qk_matmul_output modes, 3-D and 4-D
inputs, fully masked rows, nonpad_kv_seqlen, f16, and a model with
dynamic batch/sequence dims run at several shapes."""

import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

F32, F16, BOOL, I64 = (TensorProto.FLOAT, TensorProto.FLOAT16,
                       TensorProto.BOOL, TensorProto.INT64)


def compile_and_run(model, inputs, tmp_path, build_dir, tag="m"):
    """quant-compile (CPU artifact) + quant-run; {output name: array}."""
    tmp = os.path.join(str(tmp_path), tag)
    os.makedirs(tmp, exist_ok=True)
    path = os.path.join(tmp, "model.onnx")
    onnx.save(model, path)
    artifact = os.path.join(tmp, "model.so")
    r = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"), path,
                        "-o", artifact, "--target=cpu"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    cmd = [os.path.join(build_dir, "bin", "quant-run"), artifact,
           "--output-dir", os.path.join(tmp, "out")]
    for name, value in inputs.items():
        np.save(os.path.join(tmp, name + ".npy"), value)
        cmd += ["--input", f"{name}={os.path.join(tmp, name + '.npy')}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    return {o.name: np.load(os.path.join(tmp, "out", o.name + ".npy"))
            for o in model.graph.output}


def onnxruntime_outputs(model, inputs):
    sess = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    names = [o.name for o in model.graph.output]
    return dict(zip(names, sess.run(names, inputs)))


def attention_model(inputs, outputs, opset=23, **attrs):
    """One Attention node. `inputs`: [(name or "", dtype, shape)] in the
    operator's order; `outputs`: [(name or "", dtype, shape)]."""
    node = helper.make_node("Attention", [i[0] for i in inputs],
                            [o[0] for o in outputs], name="attn", **attrs)
    graph = helper.make_graph(
        [node], "attention",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs if n],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs if n])
    return helper.make_model(graph,
                             opset_imports=[helper.make_opsetid("", opset)])


def reference_outputs(model, inputs):
    """onnx's reference implementation (for what onnxruntime refuses)."""
    from onnx.reference import ReferenceEvaluator
    names = [o.name for o in model.graph.output]
    return dict(zip(names, ReferenceEvaluator(model).run(names, inputs)))


def check(model, feeds, tmp_path, build_dir, rtol=1e-5, atol=1e-5, tag="m",
          reference=onnxruntime_outputs):
    ours = compile_and_run(model, feeds, tmp_path, build_dir, tag)
    ref = reference(model, feeds)
    for name, want in ref.items():
        got = ours[name]
        assert got.shape == want.shape and got.dtype == want.dtype, name
        np.testing.assert_allclose(got.astype(np.float64),
                                   want.astype(np.float64), rtol=rtol,
                                   atol=atol, err_msg=name)
    return ours, ref


def test_gqa_causal_mask_past_kv_3d(build_dir, tmp_path):
    """The brief's case: 3-D GQA (8 query heads over 2 KV heads), causal,
    a float mask over past + new keys, a KV cache, all four outputs."""
    rng = np.random.default_rng(0)
    B, S, P, Hq, Hkv, D = 2, 5, 7, 8, 2, 16
    T = P + S
    feeds = {
        "Q": rng.standard_normal((B, S, Hq * D)).astype(np.float32),
        "K": rng.standard_normal((B, S, Hkv * D)).astype(np.float32),
        "V": rng.standard_normal((B, S, Hkv * D)).astype(np.float32),
        "mask": np.where(rng.random((B, 1, S, T)) < 0.2, -np.inf,
                         rng.standard_normal((B, 1, S, T))).astype(np.float32),
        "past_key": rng.standard_normal((B, Hkv, P, D)).astype(np.float32),
        "past_value": rng.standard_normal((B, Hkv, P, D)).astype(np.float32),
    }
    # A row with every key masked: a zero output row.
    feeds["mask"][1, 0, 2, :] = -np.inf
    model = attention_model(
        [("Q", F32, [B, S, Hq * D]), ("K", F32, [B, S, Hkv * D]),
         ("V", F32, [B, S, Hkv * D]), ("mask", F32, [B, 1, S, T]),
         ("past_key", F32, [B, Hkv, P, D]),
         ("past_value", F32, [B, Hkv, P, D])],
        [("Y", F32, [B, S, Hq * D]), ("present_key", F32, [B, Hkv, T, D]),
         ("present_value", F32, [B, Hkv, T, D]),
         ("qk", F32, [B, Hq, S, T])],
        is_causal=1, q_num_heads=Hq, kv_num_heads=Hkv,
        qk_matmul_output_mode=3)
    ours, _ = check(model, feeds, tmp_path, build_dir)
    # The fully masked row is zero in Y (every head of batch 1, query 2)
    # and in the probabilities.
    assert not ours["Y"][1, 2].any()
    assert not ours["qk"][1, :, 2].any()
    np.testing.assert_allclose(ours["qk"][0].sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("mode,short", [(0, 0), (1, 0), (2, 0), (2, 2)])
def test_gqa_bool_mask_softcap_4d(build_dir, tmp_path, mode, short):
    """4-D GQA with a bool mask, softcap, an explicit scale and the
    qk_matmul_output modes 0-2. A mask `short` keys shorter than K is
    padded with False. onnx's reference judges where onnxruntime differs
    from the spec: it refuses a short mask, and its mode-2 output holds
    -FLT_MAX at masked keys where the spec has -inf."""
    rng = np.random.default_rng(1 + mode)
    B, Hq, Hkv, S, L, D, Dv = 2, 6, 3, 4, 9, 8, 5
    feeds = {
        "Q": rng.standard_normal((B, Hq, S, D)).astype(np.float32),
        "K": rng.standard_normal((B, Hkv, L, D)).astype(np.float32),
        "V": rng.standard_normal((B, Hkv, L, Dv)).astype(np.float32),
        "mask": rng.random((S, L - short)) < 0.7,
    }
    feeds["mask"][:, 0] = True
    model = attention_model(
        [("Q", F32, [B, Hq, S, D]), ("K", F32, [B, Hkv, L, D]),
         ("V", F32, [B, Hkv, L, Dv]), ("mask", BOOL, [S, L - short])],
        [("Y", F32, [B, Hq, S, Dv]), ("", F32, None), ("", F32, None),
         ("qk", F32, [B, Hq, S, L])],
        softcap=2.5, scale=0.3, qk_matmul_output_mode=mode)
    check(model, feeds, tmp_path, build_dir,
          reference=reference_outputs if short or mode == 2
          else onnxruntime_outputs)


def test_nonpad_kv_seqlen_causal_opset24(build_dir, tmp_path):
    """An external cache: nonpad_kv_seqlen masks the padding keys and sets
    the causal offset per batch (bottom-right alignment)."""
    rng = np.random.default_rng(3)
    B, H, S, L, D = 3, 2, 2, 8, 8
    feeds = {
        "Q": rng.standard_normal((B, H, S, D)).astype(np.float32),
        "K": rng.standard_normal((B, H, L, D)).astype(np.float32),
        "V": rng.standard_normal((B, H, L, D)).astype(np.float32),
        "nonpad": np.array([8, 5, 2], dtype=np.int64),
    }
    model = attention_model(
        [("Q", F32, [B, H, S, D]), ("K", F32, [B, H, L, D]),
         ("V", F32, [B, H, L, D]), ("", F32, None), ("", F32, None),
         ("", F32, None), ("nonpad", I64, [B])],
        [("Y", F32, [B, H, S, D])], opset=24, is_causal=1)
    check(model, feeds, tmp_path, build_dir)


def test_float16_causal(build_dir, tmp_path):
    rng = np.random.default_rng(4)
    B, H, S, D = 1, 4, 6, 16
    feeds = {n: rng.standard_normal((B, H, S, D)).astype(np.float16)
             for n in ("Q", "K", "V")}
    model = attention_model(
        [(n, F16, [B, H, S, D]) for n in ("Q", "K", "V")],
        [("Y", F16, [B, H, S, D])], is_causal=1)
    check(model, feeds, tmp_path, build_dir, rtol=2e-3, atol=2e-3)


def test_dynamic_batch_and_sequence(build_dir, tmp_path):
    """One artifact (batch, query and past lengths dynamic) at several
    shapes, 3-D GQA with a cache and causal masking."""
    Hq, Hkv, D = 4, 2, 8
    model = attention_model(
        [("Q", F32, ["b", "s", Hq * D]), ("K", F32, ["b", "s", Hkv * D]),
         ("V", F32, ["b", "s", Hkv * D]), ("", F32, None),
         ("past_key", F32, ["b", Hkv, "p", D]),
         ("past_value", F32, ["b", Hkv, "p", D])],
        [("Y", F32, ["b", "s", Hq * D]),
         ("present_key", F32, ["b", Hkv, "t", D]),
         ("present_value", F32, ["b", Hkv, "t", D])],
        is_causal=1, q_num_heads=Hq, kv_num_heads=Hkv)
    tmp = os.path.join(str(tmp_path), "dyn")
    os.makedirs(tmp)
    path = os.path.join(tmp, "model.onnx")
    onnx.save(model, path)
    artifact = os.path.join(tmp, "model.so")
    subprocess.run([os.path.join(build_dir, "bin", "quant-compile"), path,
                    "-o", artifact, "--target=cpu"], check=True)
    rng = np.random.default_rng(5)
    for i, (B, S, P) in enumerate([(1, 1, 6), (3, 4, 0), (2, 7, 3)]):
        feeds = {
            "Q": rng.standard_normal((B, S, Hq * D)).astype(np.float32),
            "K": rng.standard_normal((B, S, Hkv * D)).astype(np.float32),
            "V": rng.standard_normal((B, S, Hkv * D)).astype(np.float32),
            "past_key": rng.standard_normal((B, Hkv, P, D)).astype(np.float32),
            "past_value": rng.standard_normal((B, Hkv, P, D)).astype(
                np.float32),
        }
        out = os.path.join(tmp, f"out{i}")
        cmd = [os.path.join(build_dir, "bin", "quant-run"), artifact,
               "--output-dir", out]
        for name, value in feeds.items():
            f = os.path.join(tmp, f"{name}{i}.npy")
            np.save(f, value)
            cmd += ["--input", f"{name}={f}"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-4000:]
        ref = onnxruntime_outputs(model, feeds)
        for name, want in ref.items():
            got = np.load(os.path.join(out, name + ".npy"))
            assert got.shape == want.shape, (name, B, S, P)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5,
                                       err_msg=f"{name} at {(B, S, P)}")

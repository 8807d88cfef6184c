"""Sequences and optionals end to end (docs/Import/Sequences.md): a model
that splits, maps, grows a sequence in a Loop, concatenates and passes a
sequence input through is compiled by quant-compile with the sequence input
pinned (--pin-shape s=seq:N and its elements' shapes), run by quant-run with
the elements as s[0], s[1], ..., and compared with onnxruntime."""

import os
import re
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest

MODEL = """
<ir_version: 8, opset_import: ["" : 18]>
g (float[4,6] x, seq(float[]) s) => (float[4,6] c, seq(float[]) m,
                                     seq(float[]) grown, seq(float[]) back,
                                     int64 n) {
   two = Constant <value_int: int = 2> ()
   parts = SplitToSequence <axis: int = 1> (x, two)
   m = SequenceMap (parts) <body: graph = b (float[4,2] p) => (float[4,2] q) {
      q = Sigmoid (p)
   }>
   rev0 = SequenceAt (m, two)
   zero = Constant <value_int: int = 0> ()
   r1 = SequenceErase (m, two)
   r2 = SequenceInsert (r1, rev0, zero)
   c = ConcatFromSequence <axis: int = 1> (r2)
   trips = Constant <value: tensor = int64 {3}> ()
   cond = Constant <value: tensor = bool {1}> ()
   e = SequenceEmpty ()
   grown = Loop (trips, cond, e) <body: graph = lb (int64 i, bool ci,
                                                   seq(float[]) si)
                                  => (bool co, seq(float[]) so) {
      co = Identity (ci)
      one = Constant <value: tensor = int64 {1}> ()
      st = Constant <value: tensor = int64[1] {0}> ()
      e1 = Add (i, one)
      ax = Constant <value: tensor = int64[1] {0}> ()
      en = Unsqueeze (e1, ax)
      row = Slice (x, st, en)
      so = SequenceInsert (si, row)
   }>
   back = Identity (s)
   n = SequenceLength (grown)
}
"""


def run_ours(build_dir, model, x, s, tmp):
    so = os.path.join(tmp, "m.so")
    cmd = [os.path.join(build_dir, "bin", "quant-compile"), model, "-o", so,
           "--pin-shape", f"s=seq:{len(s)}"]
    for k, e in enumerate(s):
        cmd += ["--pin-shape", f"s[{k}]=" + "x".join(map(str, e.shape))]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    args = [os.path.join(build_dir, "bin", "quant-run"), so,
            "--output-dir", str(tmp)]
    feeds = {"x": x, **{f"s[{k}]": e for k, e in enumerate(s)}}
    for k, (name, arr) in enumerate(feeds.items()):
        path = os.path.join(tmp, f"in{k}.npy")
        np.save(path, arr)
        args += ["--input", f"{name}={path}"]
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    outs = {}
    for name in re.findall(r"^output (.*?): ", res.stdout, re.M):
        outs[name] = np.load(os.path.join(
            tmp, re.sub(r"[^A-Za-z0-9._-]", "_", name) + ".npy"))
    return outs


@pytest.mark.parametrize("lengths", [(3, 5), (), (7,)])
def test_sequences_match_onnxruntime(build_dir, tmp_path, lengths):
    model = os.path.join(tmp_path, "seq.onnx")
    onnx.save(onnx.parser.parse_model(MODEL), model)
    rng = np.random.default_rng(len(lengths))
    x = rng.standard_normal((4, 6)).astype(np.float32)
    s = [rng.standard_normal(n).astype(np.float32) for n in lengths]
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    ref = dict(zip([o.name for o in sess.get_outputs()],
                   sess.run(None, {"x": x, "s": s})))
    ours = run_ours(build_dir, model, x, s, tmp_path)
    np.testing.assert_allclose(ours["c"], ref["c"], rtol=1e-5, atol=1e-6)
    assert ours["n"] == ref["n"] == 3
    for name in ("m", "grown", "back"):
        got = [ours[f"{name}[{k}]"] for k in range(len(ref[name]))]
        assert f"{name}[{len(ref[name])}]" not in ours, name
        for g, want in zip(got, ref[name]):
            assert g.shape == want.shape, name
            np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6,
                                       err_msg=name)


def test_sequence_input_needs_its_length(build_dir, tmp_path):
    model = os.path.join(tmp_path, "seq.onnx")
    onnx.save(onnx.parser.parse_model(MODEL), model)
    res = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                          model, "-o", os.path.join(tmp_path, "m.so")],
                         capture_output=True, text=True)
    assert res.returncode == 1
    assert "graph input 's' is a sequence; give its length with " \
           "--pin-shape s=seq:N" in res.stderr

"""ONNX control flow (If, Loop, Scan with subgraphs) compiled with
quant-compile, run with quant-run and compared with onnxruntime: outer-scope
values, run-time conditions, dynamic trip counts, loop-carried values, scan
outputs in both directions along any axis, nesting, and a voice-activity
model shaped like silero-vad's (an If choosing the sample-rate branch)."""

import os
import subprocess

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def model_of(nodes, inputs, outputs, inits=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, ir_version=8,
                             opset_imports=[helper.make_opsetid("", opset)])


def compile_model(model, tmp_path, build_dir, extra=()):
    path = os.path.join(str(tmp_path), "model.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    so = os.path.join(str(tmp_path), "model.so")
    done = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                           path, "-o", so, *extra],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return path, so


def run_artifact(so, inputs, tmp_path, build_dir, tag):
    args = []
    for name, arr in inputs.items():
        p = os.path.join(str(tmp_path), f"{tag}_{name}.npy")
        np.save(p, arr)
        args += ["--input", f"{name}={p}"]
    out = os.path.join(str(tmp_path), f"out_{tag}")
    done = subprocess.run([os.path.join(build_dir, "bin", "quant-run"), so,
                           *args, "--output-dir", out],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return {f[:-4]: np.load(os.path.join(out, f)) for f in os.listdir(out)}


def check_against_onnxruntime(model, cases, tmp_path, build_dir,
                              rtol=1e-5, atol=1e-6, extra=()):
    """Compiles once, runs each input dict of `cases` through both."""
    path, so = compile_model(model, tmp_path, build_dir, extra)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    for i, inputs in enumerate(cases):
        want = dict(zip(names, sess.run(names, inputs)))
        got = run_artifact(so, inputs, tmp_path, build_dir, str(i))
        for name in names:
            assert got[name].shape == want[name].shape, (i, name)
            assert got[name].dtype == want[name].dtype, (i, name)
            np.testing.assert_allclose(got[name], want[name], rtol=rtol,
                                       atol=atol, err_msg=f"{i}: {name}")


rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def test_if_outer_scope_runtime_condition(tmp_path, build_dir):
    """Branches read the enclosing graph's values; one output has a
    different static shape in each branch (its type joins to a dynamic
    dim), the other the same."""
    then_g = helper.make_graph(
        [helper.make_node("Add", ["x", "y"], ["zt"]),
         helper.make_node("Relu", ["x"], ["wt"])], "then", [],
        [vi("zt", F, [3]), vi("wt", F, [3])])
    else_g = helper.make_graph(
        [helper.make_node("Concat", ["x", "y"], ["ze"], axis=0),
         helper.make_node("Mul", ["x", "y"], ["we"])], "else", [],
        [vi("ze", F, [6]), vi("we", F, [3])])
    model = model_of(
        [helper.make_node("ReduceSum", ["x"], ["sx"], keepdims=0),
         helper.make_node("Greater", ["sx", "zero"], ["c"]),
         helper.make_node("If", ["c"], ["z", "w"], then_branch=then_g,
                          else_branch=else_g)],
        [vi("x", F, [3]), vi("y", F, [3])],
        [vi("z", F, None), vi("w", F, [3])],
        [numpy_helper.from_array(np.array(0, np.float32), "zero")])
    x = np.array([1, 2, 3], np.float32)
    check_against_onnxruntime(
        model, [{"x": x, "y": randn(3)}, {"x": -x, "y": randn(3)}],
        tmp_path, build_dir)


def test_if_bool_input_nested_in_loop(tmp_path, build_dir):
    """A Loop whose body holds an If on a graph input: values of both the
    Loop body and the main graph are read from the If's branches."""
    then_g = helper.make_graph([helper.make_node("Add", ["xi", "x"], ["a"])],
                               "t", [], [vi("a", F, [2])])
    else_g = helper.make_graph([helper.make_node("Sub", ["xi", "x"], ["a2"])],
                               "e", [], [vi("a2", F, [2])])
    body = helper.make_graph(
        [helper.make_node("If", ["c"], ["xo"], then_branch=then_g,
                          else_branch=else_g),
         helper.make_node("Identity", ["ci"], ["co"])], "body",
        [vi("i", I64, []), vi("ci", B, []), vi("xi", F, [2])],
        [vi("co", B, []), vi("xo", F, [2])])
    model = model_of(
        [helper.make_node("Loop", ["m", "", "x"], ["s"], body=body)],
        [vi("m", I64, []), vi("x", F, [2]), vi("c", B, [])],
        [vi("s", F, [2])])
    x = randn(2)
    check_against_onnxruntime(
        model, [{"m": np.array(3, np.int64), "x": x, "c": np.array(True)},
                {"m": np.array(4, np.int64), "x": x, "c": np.array(False)},
                {"m": np.array(0, np.int64), "x": x, "c": np.array(True)}],
        tmp_path, build_dir)


def loop_model(with_m=True, with_cond=True):
    """Loop: x accumulates into the carried value while its sum stays
    below `lim` (when there is a cond) for at most m iterations (when
    there is an m); scan outputs: the carried value and the iteration."""
    body = helper.make_graph(
        [helper.make_node("Add", ["xi", "x"], ["xo"]),
         helper.make_node("Mul", ["xo", "scale"], ["y"]),
         helper.make_node("Cast", ["i"], ["fi"], to=F),
         helper.make_node("ReduceSum", ["xo"], ["r"], keepdims=0),
         helper.make_node("Less", ["r", "lim"], ["co"])], "body",
        [vi("i", I64, []), vi("ci", B, []), vi("xi", F, [2])],
        [vi("co", B, []), vi("xo", F, [2]), vi("y", F, [2]),
         vi("fi", F, [])])
    model = model_of(
        [helper.make_node("Loop", ["m" if with_m else "",
                                   "c" if with_cond else "", "x"],
                          ["s", "ys", "is"], body=body)],
        [vi("m", I64, []), vi("c", B, []), vi("x", F, [2]),
         vi("lim", F, [])],
        [vi("s", F, [2]), vi("ys", F, None), vi("is", F, None)],
        [numpy_helper.from_array(np.array(0.5, np.float32), "scale")])
    # Inputs the Loop does not read stay graph inputs (onnxruntime needs
    # them fed either way).
    return model


@pytest.mark.parametrize("with_m,with_cond", [(True, True), (True, False),
                                              (False, True)])
def test_loop_trip_count_cond_carried_and_scan(tmp_path, build_dir, with_m,
                                              with_cond):
    model = loop_model(with_m, with_cond)
    x = np.array([1.0, 0.5], np.float32)
    cases = []
    for m, c, lim in [(5, True, 6.0), (7, True, 100.0), (0, True, 6.0),
                      (3, False, 6.0), (40, True, 1e9)]:
        if not with_m and lim > 100:
            continue  # no trip count: the condition must end the loop
        cases.append({"m": np.array(m, np.int64), "c": np.array(c),
                      "x": x, "lim": np.array(lim, np.float32)})
    check_against_onnxruntime(model, cases, tmp_path, build_dir)


def test_loop_carried_shape_grows(tmp_path, build_dir):
    """A carried value that grows every iteration (Concat): its type
    joins to a dynamic dim and the body is imported again."""
    body = helper.make_graph(
        [helper.make_node("Concat", ["xi", "x"], ["xo"], axis=0),
         helper.make_node("Identity", ["ci"], ["co"])], "body",
        [vi("i", I64, []), vi("ci", B, []), vi("xi", F, ["n"])],
        [vi("co", B, []), vi("xo", F, ["n2"])])
    model = model_of(
        [helper.make_node("Loop", ["m", "", "x"], ["s"], body=body)],
        [vi("m", I64, []), vi("x", F, [2])], [vi("s", F, None)])
    check_against_onnxruntime(
        model, [{"m": np.array(k, np.int64), "x": randn(2)} for k in (0, 1, 4)],
        tmp_path, build_dir)


@pytest.mark.parametrize("dynamic", [False, True])
def test_loop_without_trip_count_scan_grows(tmp_path, build_dir, dynamic):
    """No trip count: the scan buffers grow while the loop runs (static
    per-iteration shape: doubled in an outer loop; dynamic: in the body)."""
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["fi"], to=F),
         helper.make_node("Mul", ["x", "fi"], ["y"]),
         helper.make_node("Less", ["i", "n"], ["co"])], "body",
        [vi("i", I64, []), vi("ci", B, [])],
        [vi("co", B, []), vi("y", F, ["N"] if dynamic else [3])])
    model = model_of(
        [helper.make_node("Loop", ["", "c"], ["ys"], body=body)],
        [vi("c", B, []), vi("x", F, ["N"] if dynamic else [3]),
         vi("n", I64, [])],
        [vi("ys", F, None)])
    check_against_onnxruntime(
        model, [{"c": np.array(True), "x": randn(3),
                 "n": np.array(n, np.int64)} for n in (0, 15, 16, 40)] +
        [{"c": np.array(False), "x": randn(3), "n": np.array(5, np.int64)}],
        tmp_path, build_dir)


@pytest.mark.parametrize("in_dir,in_axis,out_dir,out_axis", [
    (0, 0, 0, 0), (1, 0, 0, 0), (0, 1, 1, 0), (1, 1, 0, 1), (0, -1, 1, -1)])
def test_scan_directions_and_axes(tmp_path, build_dir, in_dir, in_axis,
                                  out_dir, out_axis):
    """Scan with two states (a running sum and a running max) and two scan
    inputs, one scanned in the given direction along the given axis, the
    other forward along axis 0."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s1", "a"], ["s1o"]),
         helper.make_node("Max", ["s2", "bb"], ["s2o"]),
         helper.make_node("Mul", ["s1o", "bb"], ["y"])], "body",
        [vi("s1", F, [3]), vi("s2", F, [3]), vi("a", F, [3]),
         vi("bb", F, [3])],
        [vi("s1o", F, [3]), vi("s2o", F, [3]), vi("y", F, [3])])
    shape_a = [5, 3] if in_axis == 0 else [3, 5]
    model = model_of(
        [helper.make_node("Scan", ["s10", "s20", "xa", "xb"],
                          ["s1", "s2", "ys"], body=body, num_scan_inputs=2,
                          scan_input_directions=[in_dir, 0],
                          scan_input_axes=[in_axis, 0],
                          scan_output_directions=[out_dir],
                          scan_output_axes=[out_axis])],
        [vi("s10", F, [3]), vi("s20", F, [3]), vi("xa", F, shape_a),
         vi("xb", F, [5, 3])],
        [vi("s1", F, [3]), vi("s2", F, [3]), vi("ys", F, None)], opset=16)
    check_against_onnxruntime(
        model, [{"s10": randn(3), "s20": randn(3), "xa": randn(*shape_a),
                 "xb": randn(5, 3)}], tmp_path, build_dir)


def test_scan_dynamic_length_inside_loop(tmp_path, build_dir):
    """A Scan over a sequence of dynamic length (its outputs' buffers
    are sized at run time), nested in a Loop that runs it M times."""
    scan_body = helper.make_graph(
        [helper.make_node("Add", ["acc", "xt"], ["acc2"]),
         helper.make_node("Tanh", ["acc2"], ["h"])], "sb",
        [vi("acc", F, [4]), vi("xt", F, [4])],
        [vi("acc2", F, [4]), vi("h", F, [4])])
    loop_body = helper.make_graph(
        [helper.make_node("Scan", ["si", "seq"], ["so", "hs"],
                          body=scan_body, num_scan_inputs=1),
         helper.make_node("ReduceMean", ["hs"], ["hm"], axes=[0],
                          keepdims=0),
         helper.make_node("Identity", ["ci"], ["co"])], "lb",
        [vi("i", I64, []), vi("ci", B, []), vi("si", F, [4])],
        [vi("co", B, []), vi("so", F, [4]), vi("hm", F, [4])])
    model = model_of(
        [helper.make_node("Loop", ["m", "", "s0"], ["s", "hms"],
                          body=loop_body)],
        [vi("m", I64, []), vi("s0", F, [4]), vi("seq", F, ["T", 4])],
        [vi("s", F, [4]), vi("hms", F, None)])
    cases = [{"m": np.array(m, np.int64), "s0": randn(4),
              "seq": randn(t, 4) * 0.3} for m, t in [(2, 5), (3, 1), (1, 7)]]
    check_against_onnxruntime(model, cases, tmp_path, build_dir)


def vad_model():
    """A voice-activity model shaped like silero-vad's exports: a scalar
    int64 sample rate picks one of two branches (16 kHz: 512-sample
    frames, 8 kHz: 256), each a small strided conv front end, ReLU,
    pooled and a linear head; then a sigmoid. The branches read the
    audio and the weights from the main graph."""
    r = np.random.default_rng(7)

    def w(name, *shape):
        return numpy_helper.from_array(
            (r.standard_normal(shape) * 0.2).astype(np.float32), name)

    def branch(tag, frame, kernel):
        nodes = [
            helper.make_node("Reshape", ["audio", f"shape_{tag}"],
                             [f"frames_{tag}"]),
            helper.make_node("Conv", [f"frames_{tag}", f"conv_w_{tag}",
                                      f"conv_b_{tag}"], [f"c_{tag}"],
                             strides=[kernel // 2], pads=[0, 0]),
            helper.make_node("Relu", [f"c_{tag}"], [f"r_{tag}"]),
            helper.make_node("ReduceMean", [f"r_{tag}"], [f"p_{tag}"],
                             axes=[2], keepdims=0),
            helper.make_node("Gemm", [f"p_{tag}", "head_w", "head_b"],
                             [f"logit_{tag}"], transB=1)]
        return helper.make_graph(nodes, tag, [], [vi(f"logit_{tag}", F,
                                                     [1, 1])])

    inits = [w("conv_w_16k", 8, 1, 32), w("conv_b_16k", 8),
             w("conv_w_8k", 8, 1, 16), w("conv_b_8k", 8),
             w("head_w", 1, 8), w("head_b", 1),
             numpy_helper.from_array(np.array([1, 1, 512], np.int64),
                                     "shape_16k"),
             numpy_helper.from_array(np.array([1, 1, 256], np.int64),
                                     "shape_8k"),
             numpy_helper.from_array(np.array(16000, np.int64), "sr16k")]
    return model_of(
        [helper.make_node("Equal", ["sr", "sr16k"], ["is16k"]),
         helper.make_node("If", ["is16k"], ["logit"],
                          then_branch=branch("16k", 512, 32),
                          else_branch=branch("8k", 256, 16)),
         helper.make_node("Sigmoid", ["logit"], ["speech_prob"])],
        [vi("audio", F, [1, "samples"]), vi("sr", I64, [])],
        [vi("speech_prob", F, [1, 1])], inits)


def test_vad_if_on_sample_rate(tmp_path, build_dir):
    """The silero-vad form: the sample rate is a run-time scalar input;
    the frame length differs per branch, so audio has a dynamic dim."""
    audio16 = (np.sin(np.arange(512) / 7.0) * 0.5).astype(np.float32)[None]
    audio8 = randn(1, 256) * 0.3
    check_against_onnxruntime(
        vad_model(),
        [{"audio": audio16, "sr": np.array(16000, np.int64)},
         {"audio": audio8, "sr": np.array(8000, np.int64)}],
        tmp_path, build_dir, rtol=1e-5, atol=1e-6)


def test_vad_frozen_sample_rate_folds_the_if(tmp_path, build_dir):
    """With the sample rate frozen (--freeze-input) the If folds at import:
    only the 8 kHz branch is imported, so the audio can be pinned to its
    frame (the 16 kHz branch's Reshape of 256 samples to 512 would be an
    import error)."""
    np.save(os.path.join(str(tmp_path), "sr.npy"), np.array(8000, np.int64))
    audio = randn(1, 256) * 0.3
    model = vad_model()
    path, so = compile_model(
        model, tmp_path, build_dir,
        ["--freeze-input=sr=" + os.path.join(str(tmp_path), "sr.npy"),
         "--pin-shape=audio=1x256"])
    got = run_artifact(so, {"audio": audio}, tmp_path, build_dir, "frozen")
    want = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
        None, {"audio": audio, "sr": np.array(8000, np.int64)})[0]
    np.testing.assert_allclose(got["speech_prob"], want, rtol=1e-5,
                               atol=1e-6)


def recurrent_loop_model():
    """x <- tanh(x W) M times: a linear layer inside a Loop body."""
    r = np.random.default_rng(1)
    body = helper.make_graph(
        [helper.make_node("MatMul", ["xi", "W"], ["mm"]),
         helper.make_node("Tanh", ["mm"], ["xo"]),
         helper.make_node("Identity", ["ci"], ["co"])], "body",
        [vi("i", I64, []), vi("ci", B, []), vi("xi", F, [1, 64])],
        [vi("co", B, []), vi("xo", F, [1, 64])])
    return model_of(
        [helper.make_node("Loop", ["m", "", "x"], ["y"], body=body)],
        [vi("m", I64, []), vi("x", F, [1, 64])], [vi("y", F, [1, 64])],
        [numpy_helper.from_array(
            (r.standard_normal((64, 64)) * 0.15).astype(np.float32), "W")])


@pytest.mark.parametrize("scheme", ["w8", "w8a8-dynamic", "w8a8"])
def test_quantized_linear_inside_loop(tmp_path, build_dir, scheme):
    """Layers inside a Loop body quantize (W8A8 calibrates through the
    loop: the observer in the body sees every iteration); on the
    calibration samples (static scales clip what calibration did not see)
    the result stays within int8 error of onnxruntime's float result, and
    differs from it."""
    model = recurrent_loop_model()
    r = np.random.default_rng(3)
    samples = [{"m": np.array(m, np.int64),
                "x": r.standard_normal((1, 64)).astype(np.float32)}
               for m in (1, 2, 4, 6)]
    extra = ["--quantize=" + scheme]
    if scheme == "w8a8":
        cal = os.path.join(str(tmp_path), "cal")
        for s, sample in enumerate(samples):
            os.makedirs(os.path.join(cal, str(s)))
            for name, arr in sample.items():
                np.save(os.path.join(cal, str(s), name + ".npy"), arr)
        extra += ["--calibration-data", cal]
    path, so = compile_model(model, tmp_path, build_dir, extra)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for i, inputs in enumerate(samples):
        want = sess.run(None, inputs)[0]
        got = run_artifact(so, inputs, tmp_path, build_dir, f"q{i}")["y"]
        err = np.abs(got - want).max()
        # int8 error compounds over the iterations (one scale serves them
        # all): 0.053 after 6 with W8A8, 0.02-0.04 for the unrolled layers.
        assert 0 < err < 0.1, (inputs["m"], err)


def test_vad_weight_only_int8_shared_head(tmp_path, build_dir):
    """Both If branches use the same head weight: it is quantized once,
    where both branches see it."""
    audio = randn(1, 512) * 0.3
    path, so = compile_model(vad_model(), tmp_path, build_dir,
                             ["--quantize=w8"])
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for i, (a, sr) in enumerate([(audio, 16000), (audio[:, :256], 8000)]):
        inputs = {"audio": a, "sr": np.array(sr, np.int64)}
        want = sess.run(None, inputs)[0]
        got = run_artifact(so, inputs, tmp_path, build_dir, f"v{i}")
        np.testing.assert_allclose(got["speech_prob"], want, atol=0.01)


@pytest.mark.parametrize("directions", [[0, 0], [1, 0]])
def test_scan8_batched(tmp_path, build_dir, directions):
    """Scan-8's batched form: a batch of 3 sequences of length 5; the body
    sees one batch element (an scf.for over the batch runs the scan loop on
    each); sequence_lens giving the full length is accepted."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "a"], ["s2"]),
         helper.make_node("Mul", ["s2", "bb"], ["y"])], "body",
        [vi("s", F, [4]), vi("a", F, [4]), vi("bb", F, [4])],
        [vi("s2", F, [4]), vi("y", F, [4])])
    model = model_of(
        [helper.make_node("Scan", ["lens", "s0", "xa", "xb"], ["s", "ys"],
                          body=body, num_scan_inputs=2,
                          directions=directions)],
        [vi("s0", F, [3, 4]), vi("xa", F, [3, 5, 4]), vi("xb", F, [3, 5, 4])],
        [vi("s", F, [3, 4]), vi("ys", F, [3, 5, 4])],
        [numpy_helper.from_array(np.full(3, 5, np.int64), "lens")], opset=8)
    model.ir_version = 4
    check_against_onnxruntime(
        model, [{"s0": randn(3, 4), "xa": randn(3, 5, 4),
                 "xb": randn(3, 5, 4)}], tmp_path, build_dir)

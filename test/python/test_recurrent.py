"""ONNX LSTM, GRU and RNN compiled by quant-compile and run by quant-run
against onnxruntime, over a matrix of attribute combinations: directions,
layouts, activations with alpha/beta, clip, sequence lengths, initial states,
peepholes, input_forget, linear_before_reset, batch 1 and 3, weights as
initializers or as graph inputs, subsets of the outputs."""

import json
import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
OUTPUTS = {"LSTM": ["y", "y_h", "y_c"], "GRU": ["y", "y_h"], "RNN": ["y", "y_h"]}


def compile_and_run(model, inputs, tmp_path, build_dir, flags=()):
    """quant-compile (CPU artifact) + quant-run; {output name: array}."""
    tmp = str(tmp_path)
    path = os.path.join(tmp, "model.onnx")
    onnx.save(model, path)
    artifact = os.path.join(tmp, "model.so")
    r = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"), path,
                        "-o", artifact, "--target=cpu", *flags],
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


def reference(op, options, seed):
    """onnxruntime's outputs and our model and inputs. onnxruntime runs
    batch-first (layout 1) RNN and GRU nodes not at all (and LSTM ones not
    everywhere): their reference is the layout-0 twin, transposed."""
    model, feeds = recurrent_model(op, seed=seed, **options)
    if not options.get("layout"):
        return onnxruntime_outputs(model, feeds), model, feeds
    twin, twin_feeds = recurrent_model(op, seed=seed,
                                       **dict(options, layout=0))
    ref = onnxruntime_outputs(twin, twin_feeds)
    for name, value in ref.items():
        # Y [T, D, B, H] -> [B, T, D, H]; Y_h, Y_c [D, B, H] -> [B, D, H]
        ref[name] = np.ascontiguousarray(
            value.transpose(2, 0, 1, 3) if name == "y" else
            value.transpose(1, 0, 2))
    return ref, model, feeds


def onnxruntime_outputs(model, inputs):
    sess = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    names = [o.name for o in model.graph.output]
    return dict(zip(names, sess.run(names, inputs)))


def recurrent_model(op, seed=0, T=5, batch=3, I=4, H=6, direction="forward",
                    layout=0, bias=True, initial_h=False, initial_c=False,
                    seq_lens=None, peepholes=False, weights_as_inputs=False,
                    outputs=None, opset=14, scale=0.6, **attrs):
    """A model of one `op` node and its inputs ({name: array}, graph inputs
    only); parameters uniform in [-scale, scale] (large hidden sizes want a
    small scale: a chaotic recurrence amplifies any rounding difference)."""
    rng = np.random.default_rng(seed)
    D = 2 if direction == "bidirectional" else 1
    G = GATES[op]

    def u(*shape):
        return rng.uniform(-scale, scale, size=shape).astype(np.float32)

    # Drawn in the layout-0 shapes, so that a layout-1 model holds the same
    # values (transposed) as its layout-0 twin.
    x_shape = [T, batch, I]
    state_shape = [D, batch, H]
    feeds = {"x": rng.normal(size=x_shape).astype(np.float32)}
    params = {"W": u(D, G * H, I), "R": u(D, G * H, H)}
    names = ["x", "W", "R", "", "", "", "", ""]
    if bias:
        params["B"] = u(D, 2 * G * H)
        names[3] = "B"
    if seq_lens is not None:
        feeds["seq_lens"] = np.array(seq_lens, np.int32)
        names[4] = "seq_lens"
    if initial_h:
        feeds["h0"] = u(*state_shape)
        names[5] = "h0"
    if initial_c:
        feeds["c0"] = u(*state_shape)
        names[6] = "c0"
    if peepholes:
        params["P"] = u(D, 3 * H)
        names[7] = "P"
    if layout:
        for name in ("x", "h0", "c0"):
            if name in feeds:
                feeds[name] = np.ascontiguousarray(
                    feeds[name].transpose(1, 0, 2))
        x_shape = list(feeds["x"].shape)
    while names and names[-1] == "":
        names.pop()
    outputs = outputs or OUTPUTS[op]
    node_outputs = [o if o in outputs else "" for o in OUTPUTS[op]]
    while node_outputs[-1] == "":
        node_outputs.pop()
    if opset >= 14:
        attrs["layout"] = layout
    node = helper.make_node(op, names, node_outputs, hidden_size=H,
                            direction=direction, **attrs)
    inits = []
    graph_inputs = [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, x_shape)]
    if weights_as_inputs:
        feeds.update(params)
    else:
        inits = [numpy_helper.from_array(v, k) for k, v in params.items()]
    for name, value in feeds.items():
        if name == "x":
            continue
        dtype = TensorProto.INT32 if value.dtype == np.int32 else \
            TensorProto.FLOAT
        graph_inputs.append(helper.make_tensor_value_info(
            name, dtype, list(value.shape)))
    graph = helper.make_graph(
        [node], "g", graph_inputs,
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None)
         for o in outputs], inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    return model, feeds


CASES = [
    # (op, options)
    ("RNN", dict()),
    ("RNN", dict(direction="reverse", batch=1, bias=False)),
    ("RNN", dict(direction="bidirectional", initial_h=True,
                 activations=["Relu", "Tanh"])),
    ("RNN", dict(layout=1, seq_lens=[5, 2, 4], initial_h=True)),
    ("RNN", dict(activations=["LeakyRelu"], activation_alpha=[0.2], clip=1.5)),
    ("RNN", dict(direction="bidirectional", weights_as_inputs=True,
                 seq_lens=[3, 5, 1], outputs=["y_h"])),
    ("GRU", dict()),
    ("GRU", dict(linear_before_reset=1)),
    ("GRU", dict(direction="reverse", linear_before_reset=1, initial_h=True,
                 seq_lens=[1, 5, 3])),
    ("GRU", dict(direction="bidirectional", layout=1, batch=1,
                 initial_h=True)),
    ("GRU", dict(direction="bidirectional", seq_lens=[4, 2, 5], clip=0.7,
                 weights_as_inputs=True)),
    ("GRU", dict(activations=["HardSigmoid", "Softsign"],
                 activation_alpha=[0.3], activation_beta=[0.4])),
    ("GRU", dict(activations=["Sigmoid", "Elu", "HardSigmoid", "Softplus"],
                 direction="bidirectional", activation_alpha=[0.5])),
    ("GRU", dict(layout=1, seq_lens=[2, 5, 3], outputs=["y"], bias=False)),
    ("LSTM", dict()),
    ("LSTM", dict(batch=1, initial_h=True, initial_c=True, peepholes=True)),
    ("LSTM", dict(direction="reverse", seq_lens=[3, 5, 1], peepholes=True)),
    ("LSTM", dict(direction="bidirectional", initial_h=True, initial_c=True,
                  seq_lens=[5, 4, 2])),
    ("LSTM", dict(direction="bidirectional", layout=1, peepholes=True,
                  initial_c=True, weights_as_inputs=True)),
    ("LSTM", dict(layout=1, seq_lens=[2, 5, 4], outputs=["y_h", "y_c"])),
    ("LSTM", dict(input_forget=1, clip=0.5, peepholes=True)),
    ("LSTM", dict(activations=["Sigmoid", "ScaledTanh", "Affine"],
                  activation_alpha=[0.8, 1.5], activation_beta=[1.2, 0.1])),
    ("LSTM", dict(activations=["HardSigmoid", "Tanh", "Relu", "Sigmoid",
                               "ThresholdedRelu", "Softsign"],
                  direction="bidirectional", activation_alpha=[0.25, 0.1],
                  activation_beta=[0.45])),
    ("LSTM", dict(seq_lens=[0, 5, 3], initial_h=True, initial_c=True,
                  batch=3)),
    ("LSTM", dict(opset=7, bias=False)),
]


@pytest.mark.parametrize("op,options", CASES,
                         ids=[f"{op}-{i}" for i, (op, _) in enumerate(CASES)])
def test_recurrent_matches_onnxruntime(tmp_path, build_dir, op, options):
    ref, model, feeds = reference(op, options, seed=len(str(options)))
    ours = compile_and_run(model, feeds, tmp_path, build_dir)
    for name, expected in ref.items():
        assert ours[name].shape == expected.shape, name
        np.testing.assert_allclose(ours[name], expected, rtol=1e-4, atol=2e-5,
                                   err_msg=name)


def test_dynamic_sequence_and_batch(tmp_path, build_dir):
    """X with symbolic T and batch: one artifact runs two shapes."""
    model, feeds = recurrent_model("LSTM", direction="bidirectional",
                                   initial_h=True, seq_lens=[4, 1, 5])
    for vi in model.graph.input:
        dims = vi.type.tensor_type.shape.dim
        if vi.name == "x":
            dims[0].dim_param, dims[1].dim_param = "T", "N"
        elif vi.name == "h0":
            dims[1].dim_param = "N"
        elif vi.name == "seq_lens":
            dims[0].dim_param = "N"
    ref = onnxruntime_outputs(model, feeds)
    ours = compile_and_run(model, feeds, tmp_path, build_dir)
    for name, expected in ref.items():
        np.testing.assert_allclose(ours[name], expected, rtol=1e-4, atol=2e-5,
                                   err_msg=name)


def test_sequence_lens_out_of_range_fails_at_run_time(tmp_path, build_dir):
    model, feeds = recurrent_model("GRU", seq_lens=[2, 6, 1])
    with pytest.raises(AssertionError, match="GRU.*sequence_lens"):
        compile_and_run(model, feeds, tmp_path, build_dir)


def vad_model(seed=0, T=40, batch=1, F=16, C=24, H=32):
    """A voice-activity-style network: Conv1d front (+ Relu) over [N, F, T]
    features, a streaming LSTM with its state as inputs and outputs, a
    linear head and a sigmoid: per frame speech probabilities."""
    rng = np.random.default_rng(seed)

    def u(*shape, scale=0.4):
        return rng.uniform(-scale, scale, size=shape).astype(np.float32)

    inits = [
        numpy_helper.from_array(u(C, F, 3), "front.conv.weight"),
        numpy_helper.from_array(u(C), "front.conv.bias"),
        numpy_helper.from_array(u(1, 4 * H, C), "lstm.weight_ih"),
        numpy_helper.from_array(u(1, 4 * H, H), "lstm.weight_hh"),
        numpy_helper.from_array(u(1, 8 * H), "lstm.bias"),
        numpy_helper.from_array(u(H, 1), "head.weight"),
        numpy_helper.from_array(u(1), "head.bias"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "front.conv.weight", "front.conv.bias"],
                         ["conv"], kernel_shape=[3], pads=[1, 1],
                         name="/front/conv/Conv"),
        helper.make_node("Relu", ["conv"], ["act"], name="/front/relu"),
        helper.make_node("Transpose", ["act"], ["seq"], perm=[2, 0, 1],
                         name="/transpose"),
        helper.make_node("LSTM", ["seq", "lstm.weight_ih", "lstm.weight_hh",
                                  "lstm.bias", "", "h0", "c0"],
                         ["y", "hn", "cn"], hidden_size=H, name="/lstm/LSTM"),
        helper.make_node("Squeeze", ["y", "axis1"], ["ys"], name="/squeeze"),
        helper.make_node("MatMul", ["ys", "head.weight"], ["logit0"],
                         name="/head/MatMul"),
        helper.make_node("Add", ["logit0", "head.bias"], ["logit"],
                         name="/head/Add"),
        helper.make_node("Sigmoid", ["logit"], ["prob"], name="/sigmoid"),
    ]
    graph = helper.make_graph(
        nodes, "vad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, F, T]),
         helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, batch, H]),
         helper.make_tensor_value_info("c0", TensorProto.FLOAT, [1, batch, H])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("hn", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("cn", TensorProto.FLOAT, None)],
        inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    feeds = {"x": rng.normal(size=(batch, F, T)).astype(np.float32),
             "h0": u(1, batch, H, scale=0.5), "c0": u(1, batch, H, scale=0.5)}
    return model, feeds


@pytest.mark.parametrize("batch", [1, 3])
def test_vad_model_matches_onnxruntime(tmp_path, build_dir, batch):
    model, feeds = vad_model(batch=batch)
    ref = onnxruntime_outputs(model, feeds)
    ours = compile_and_run(model, feeds, tmp_path, build_dir)
    for name, expected in ref.items():
        assert ours[name].shape == expected.shape, name
        np.testing.assert_allclose(ours[name], expected, rtol=1e-4, atol=1e-5,
                                   err_msg=name)


@pytest.mark.parametrize("scheme", ["w8", "w8a8"])
def test_vad_model_quantized(tmp_path, build_dir, scheme):
    """LSTM's W (the input projection) and R (the recurrent product inside
    the time loop) are quantizable layers: weight-only int8 and static W8A8
    (observers calibrated inside the loop) stay close to onnxruntime's float
    result."""
    model, feeds = vad_model(batch=1)
    cal = tmp_path / "cal"
    for i in range(6):
        _, sample = vad_model(seed=100 + i, batch=1)
        (cal / f"s{i}").mkdir(parents=True)
        for name, value in sample.items():
            np.save(cal / f"s{i}" / f"{name}.npy", value)
    report = tmp_path / "report.json"
    ref = onnxruntime_outputs(model, feeds)
    ours = compile_and_run(model, feeds, tmp_path, build_dir,
                           flags=[f"--quantize={scheme}",
                                  f"--calibration-data={cal}",
                                  f"--report={report}"])
    layers = {layer["name"]: layer for layer in
              json.loads(report.read_text())["layers"]}
    for name in ("lstm.weight_ih", "lstm.weight_hh"):
        assert name in layers, sorted(layers)
        assert layers[name]["quantized_as"].startswith("int8")
        assert layers[name]["weight_bytes_quantized"] < \
            layers[name]["weight_bytes_float"] / 3
    # Probabilities in [0, 1]: int8 errors measured at ~1e-3 (w8) and ~2e-3
    # (w8a8); a float fallback would be exact, a broken one far off.
    err = np.abs(ours["prob"] - ref["prob"]).max()
    assert 1e-6 < err < 1e-2, err
    np.testing.assert_allclose(ours["hn"], ref["hn"], atol=0.05)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_stacked_bidirectional_export_pattern(tmp_path, build_dir, op):
    """Two bidirectional layers the way PyTorch's exporter writes a
    batch-first nn.LSTM/GRU/RNN(num_layers=2, bidirectional=True): Transpose
    to time-major, Y [T, 2, B, H] -> Transpose + Reshape [T, B, 2H] into the
    next layer; batch and time symbolic."""
    rng = np.random.default_rng(7)
    I, H, G = 16, 32, GATES[op]

    def u(name, *shape):
        return numpy_helper.from_array(
            rng.uniform(-0.3, 0.3, size=shape).astype(np.float32), name)

    inits = [u("l0.W", 2, G * H, I), u("l0.R", 2, G * H, H),
             u("l0.B", 2, 2 * G * H), u("l1.W", 2, G * H, 2 * H),
             u("l1.R", 2, G * H, H), u("l1.B", 2, 2 * G * H),
             u("head.W", 2 * H, 2),
             numpy_helper.from_array(np.array([0, 0, -1], np.int64), "shape")]
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
        helper.make_node(op, ["xt", "l0.W", "l0.R", "l0.B"], ["y0"],
                         hidden_size=H, direction="bidirectional"),
        helper.make_node("Transpose", ["y0"], ["y0t"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["y0t", "shape"], ["in1"]),
        helper.make_node(op, ["in1", "l1.W", "l1.R", "l1.B"], ["y1"],
                         hidden_size=H, direction="bidirectional"),
        helper.make_node("Transpose", ["y1"], ["y1t"], perm=[2, 0, 1, 3]),
        helper.make_node("Reshape", ["y1t", "shape"], ["feat"]),
        helper.make_node("MatMul", ["feat", "head.W"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                       ["batch", "time", I])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    feeds = {"x": rng.normal(size=(3, 20, I)).astype(np.float32)}
    ref = onnxruntime_outputs(model, feeds)
    ours = compile_and_run(model, feeds, tmp_path, build_dir)
    np.testing.assert_allclose(ours["y"], ref["y"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("strides,dilations,pads", [
    ([1], [1], [1, 1]), ([2], [1], [0, 2]), ([2], [3], [2, 1])])
def test_conv1d_front_through_the_conv_kernel(tmp_path, build_dir, strides,
                                              dilations, pads):
    """The 1-D convolutions of audio front ends run on the conv kernel as
    H = 1 (quant-compile's kernel calls) and match onnxruntime."""
    rng = np.random.default_rng(3)
    w = rng.uniform(-0.5, 0.5, size=(6, 5, 3)).astype(np.float32)
    b = rng.uniform(-0.5, 0.5, size=(6,)).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], strides=strides,
                            dilations=dilations, pads=pads)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5, 23])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    feeds = {"x": rng.normal(size=(2, 5, 23)).astype(np.float32)}
    ref = onnxruntime_outputs(model, feeds)
    ours = compile_and_run(model, feeds, tmp_path, build_dir)
    assert ours["y"].shape == ref["y"].shape
    np.testing.assert_allclose(ours["y"], ref["y"], rtol=1e-5, atol=1e-5)


def test_static_state_with_symbolic_batch(tmp_path, build_dir):
    """initial_h/initial_c declared static while X's batch is symbolic: the
    states are read at X's (dynamic) batch."""
    model, feeds = recurrent_model("LSTM", initial_h=True, initial_c=True,
                                   direction="bidirectional")
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_param, dims[1].dim_param = "T", "N"
    ref = onnxruntime_outputs(model, feeds)
    ours = compile_and_run(model, feeds, tmp_path, build_dir)
    for name, expected in ref.items():
        np.testing.assert_allclose(ours[name], expected, rtol=1e-4, atol=2e-5,
                                   err_msg=name)


@pytest.mark.parametrize("op,options,layers", [
    ("GRU", dict(direction="bidirectional", seq_lens=[5, 3, 4]),
     ["W.forward", "R.forward.zr", "R.forward.h", "W.backward",
      "R.backward.zr", "R.backward.h"]),
    ("RNN", dict(initial_h=True), ["W", "R"]),
    ("LSTM", dict(peepholes=True, initial_c=True), ["W", "R"]),
])
def test_w8a8_quantizes_every_recurrent_weight(tmp_path, build_dir, op,
                                               options, layers):
    """Static W8A8: each direction's W and R (GRU: R's z,r rows and its h
    rows, the latter applied to r ⊙ h) become int8 layers calibrated inside
    the time loop; outputs stay within int8 error of onnxruntime (measured
    2.6e-3 to 1.3e-2 on values in [-1, 1])."""
    model, feeds = recurrent_model(op, scale=0.4, **options)
    ref = onnxruntime_outputs(model, feeds)
    cal = tmp_path / "cal"
    for i in range(4):
        _, sample = recurrent_model(op, seed=50 + i, scale=0.4, **options)
        (cal / f"s{i}").mkdir(parents=True)
        for name, value in sample.items():
            np.save(cal / f"s{i}" / f"{name}.npy", value)
    report = tmp_path / "report.json"
    ours = compile_and_run(model, feeds, tmp_path, build_dir,
                           flags=["--quantize=w8a8", f"--calibration-data={cal}",
                                  f"--report={report}"])
    got = {layer["name"]: layer["quantized_as"] for layer in
           json.loads(report.read_text())["layers"]}
    assert sorted(got) == sorted(layers)
    assert all(q == "int8, activations static" for q in got.values()), got
    for name, expected in ref.items():
        err = np.abs(ours[name] - expected).max()
        assert 1e-6 < err < 0.05, (name, err)


@pytest.mark.parametrize("dtype,tolerance", [
    (TensorProto.DOUBLE, 1e-6), (TensorProto.FLOAT16, 5e-3)])
@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_double_and_half(tmp_path, build_dir, op, dtype, tolerance):
    """double and float16 nodes (onnxruntime's CPU provider runs neither)
    agree with onnxruntime's float32 result on the same values, to float32
    (double) or float16 rounding (measured: 2e-7, 1.3e-3)."""
    model32, feeds32 = recurrent_model(op, weights_as_inputs=True,
                                       initial_h=True, seq_lens=[5, 2, 4])
    ref = onnxruntime_outputs(model32, feeds32)
    model = onnx.ModelProto()
    model.CopyFrom(model32)
    for vi in list(model.graph.input) + list(model.graph.output):
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = dtype
    np_type = np.float64 if dtype == TensorProto.DOUBLE else np.float16
    feeds = {k: v.astype(np_type) if v.dtype == np.float32 else v
             for k, v in feeds32.items()}
    ours = compile_and_run(model, feeds, tmp_path, build_dir)
    for name, expected in ref.items():
        assert ours[name].dtype == np_type
        np.testing.assert_allclose(ours[name].astype(np.float64), expected,
                                   atol=tolerance, rtol=0, err_msg=name)

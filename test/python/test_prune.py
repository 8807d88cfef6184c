"""Pruning on the bundled models: qopt-prune's weights against a numpy
reference of each criterion (magnitude, Wanda with ||X_j|| from onnxruntime,
n:m, channels; ties by index), the compiled pruned model against
onnxruntime running the same pruned weights, and qopt-shrink-structured:
the shrunk MLP computes what the channel-pruned one does (1e-5) with smaller
weights."""

import os
import re
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

import make_examples

INPUTS = {"mlp": ("input", "logits"), "transformer": ("hidden_states", "output"),
          "cnn": ("image", "logits")}


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    root = tmp_path_factory.mktemp("prune")
    for name in INPUTS:
        make_examples.write_model(str(root), name, calib=6, eval_=2)
    return root


def tool(build_dir, name, *args):
    return subprocess.run([os.path.join(build_dir, "bin", name),
                           *map(str, args)], capture_output=True, text=True)


def resources(text):
    """The f32 dense_resource blobs of a printed module, by name."""
    out = {}
    for m in re.finditer(r'^\s+("?)([^"\n]+?)\1: "0x([0-9A-Fa-f]+)"', text, re.M):
        raw = bytes.fromhex(m.group(3))[4:]  # 4 bytes of alignment first
        out[m.group(2)] = np.frombuffer(raw, dtype="<f4")
    return out


def layer_weights(text):
    """Layer weight by layer name: qopt.linear's weight_name, else the conv's
    position (conv0, conv1, ...), in program order."""
    blobs = resources(text)
    consts = {}
    for m in re.finditer(r'%(\S+) = arith\.constant dense_resource<("?)(.+?)\2> : '
                         r'tensor<([0-9x]+)xf32>', text):
        consts[m.group(1)] = (m.group(3), [int(d) for d in m.group(4).split("x")])
    out = {}
    convs = 0
    for line in text.splitlines():
        m = re.search(r'qopt\.linear %\S+, %([^,\s]+).*weight_name = "([^"]+)"', line)
        if m:
            name, shape = consts[m.group(1)]
            out[m.group(2)] = blobs[name].reshape(shape)
            continue
        m = re.search(r'linalg\.conv_2d_nchw_fchw .*ins\(%[^,]+, %([^ ]+) :', line)
        if m:
            name, shape = consts[m.group(1)]
            out[f"conv{convs}"] = blobs[name].reshape(shape)
            convs += 1
    return out


def imported(build_dir, example, tmp_path):
    mlir = tmp_path / "m.mlir"
    r = tool(build_dir, "quant-translate", "--import-onnx",
             example / "model.onnx", "-o", mlir)
    assert r.returncode == 0, r.stderr
    return mlir


def prune(build_dir, mlir, options, out=None):
    args = [mlir, f"--qopt-prune-pipeline={options}"]
    if out:
        args += ["-o", out]
    r = tool(build_dir, "quant-opt", *args)
    assert r.returncode == 0, r.stderr
    return out.read_text() if out else r.stdout


def layer_inputs(example, name):
    """The ONNX activation feeding each layer (MatMul/Gemm with a constant
    weight, Conv), in graph order, and the layers' initializers."""
    model = onnx.load(example / "model.onnx")
    inits = {i.name for i in model.graph.initializer}
    nodes = [n for n in model.graph.node
             if (n.op_type in ("MatMul", "Gemm") and n.input[1] in inits)
             or n.op_type == "Conv"]
    return model, nodes


def input_sumsq(example, name, model, nodes):
    """sum over the calibration samples of x² per input channel of each
    layer's input, by onnxruntime (channels: the last dim, a Conv's dim 1)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    wanted = []
    for n in nodes:
        if n.input[0] not in [o.name for o in probe.graph.output] + wanted:
            wanted.append(n.input[0])
            if n.input[0] not in [i.name for i in probe.graph.input]:
                probe.graph.output.append(
                    onnx.helper.make_value_info(n.input[0], onnx.TypeProto()))
    sess = ort.InferenceSession(probe.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    inp = INPUTS[name][0]
    sums = {}
    calib = example / "calibration"
    for s in sorted(os.listdir(calib)):
        x = np.load(calib / s / f"{inp}.npy")
        outs = [w for w in wanted if w != inp]
        vals = dict(zip(outs, sess.run(outs, {inp: x}))) if outs else {}
        vals[inp] = x
        for w in wanted:
            v = vals[w].astype(np.float64)
            conv = any(n.op_type == "Conv" and n.input[0] == w for n in nodes)
            per = (v ** 2).sum(axis=(0, 2, 3)) if conv else \
                (v ** 2).reshape(-1, v.shape[-1]).sum(axis=0)
            sums[w] = sums.get(w, 0) + per
    return sums


def reference_mask(w, scores, kind, sparsity=0.5, n=2, m=4):
    """numpy: which weights a criterion removes (ties: smaller index)."""
    rows = w.shape[0]
    flat = scores.reshape(rows, -1)
    mask = np.zeros(flat.shape, dtype=bool)

    def smallest(s, k):
        order = np.lexsort((np.arange(s.size), s.ravel()))
        out = np.zeros(s.size, dtype=bool)
        out[order[:k]] = True
        return out.reshape(s.shape)

    def count(f, total):
        return int(np.floor(f * total * (1 + 1e-9)))

    if kind == "layer":
        mask = smallest(flat, count(sparsity, flat.size))
    elif kind == "row":
        for r in range(rows):
            mask[r] = smallest(flat[r], count(sparsity, flat.shape[1]))
    elif kind == "nm":
        # Groups along the reduction dim (dim 1), for every other index.
        s = np.moveaxis(scores, 1, -1)
        g = s.reshape(-1, m)
        order = np.lexsort((np.tile(np.arange(m), (g.shape[0], 1)), g), axis=1)
        gm = np.zeros(g.shape, dtype=bool)
        np.put_along_axis(gm, order[:, : m - n], True, axis=1)
        mask = np.moveaxis(gm.reshape(s.shape), -1, 1).reshape(rows, -1)
    elif kind == "channels":
        norms = np.sqrt((flat.astype(np.float64) ** 2).sum(axis=1))
        dead = smallest(norms, count(sparsity, rows))
        mask[dead] = True
    return mask.reshape(w.shape)


def scores_for(w, norms):
    """|W| (norms None) or |W_ij| · ||X_j|| with j the input channel."""
    s = np.abs(w.astype(np.float64))
    if norms is None:
        return s
    shape = [1, -1] + [1] * (w.ndim - 2)
    return s * np.sqrt(norms).reshape(shape)


@pytest.mark.parametrize("name,options,kind", [
    ("transformer", "sparsity=0.5", "layer"),
    ("transformer", "sparsity=0.5 scope=row", "row"),
    ("transformer", "granularity=n_m n=2 m=4", "nm"),
    ("transformer", "granularity=n_m n=4 m=8", "nm8"),
    ("mlp", "granularity=channels sparsity=0.25", "channels"),
    ("cnn", "sparsity=0.5", "layer"),
    ("cnn", "granularity=channels sparsity=0.25", "channels"),
])
def test_magnitude_matches_numpy(build_dir, examples, tmp_path, name, options, kind):
    """Magnitude pruning is exact: same f32 weights, same order."""
    example = examples / name
    mlir = imported(build_dir, example, tmp_path)
    before = layer_weights(mlir.read_text())
    after = layer_weights(prune(build_dir, mlir, options))
    assert before.keys() == after.keys() and before
    for layer, w in before.items():
        if kind == "nm" or kind == "nm8":
            nn, mm = (2, 4) if kind == "nm" else (4, 8)
            if w.shape[1] % mm:
                continue
            mask = reference_mask(w, scores_for(w, None), "nm", n=nn, m=mm)
        else:
            sp = 0.25 if kind == "channels" else 0.5
            mask = reference_mask(w, scores_for(w, None), kind, sparsity=sp)
        want = np.where(mask, 0, w)
        np.testing.assert_array_equal(after[layer], want, err_msg=layer)
        assert mask.any()


def test_global_scope_matches_numpy(build_dir, examples, tmp_path):
    example = examples / "mlp"
    mlir = imported(build_dir, example, tmp_path)
    before = layer_weights(mlir.read_text())
    after = layer_weights(prune(build_dir, mlir, "sparsity=0.6 scope=global"))
    names = list(before)
    allw = np.concatenate([before[k].ravel() for k in names])
    order = np.lexsort((np.arange(allw.size), np.abs(allw)))
    mask = np.zeros(allw.size, dtype=bool)
    mask[order[:int(np.floor(0.6 * allw.size * (1 + 1e-9)))]] = True
    at = 0
    for k in names:
        size = before[k].size
        want = np.where(mask[at:at + size], 0, before[k].ravel())
        np.testing.assert_array_equal(after[k].ravel(), want, err_msg=k)
        at += size
    # Global: the layers end with different sparsities.
    fr = [np.mean(after[k] == 0) for k in names]
    assert max(fr) - min(fr) > 0.05


@pytest.mark.parametrize("name,options,kind", [
    ("transformer", "method=wanda sparsity=0.5 scope=row", "row"),
    ("mlp", "method=wanda sparsity=0.5", "layer"),
    ("cnn", "method=wanda sparsity=0.5", "layer"),
    ("transformer", "method=wanda granularity=n_m n=2 m=4", "nm"),
])
def test_wanda_matches_numpy(build_dir, examples, tmp_path, name, options, kind):
    """Wanda's ||X_j|| comes from our compiled model's calibration run; the
    reference's from onnxruntime: selections agree except at near-ties."""
    example = examples / name
    mlir = imported(build_dir, example, tmp_path)
    before = layer_weights(mlir.read_text())
    after = layer_weights(prune(build_dir, mlir, options +
                                f" calibration-data={example / 'calibration'}"))
    model, nodes = layer_inputs(example, name)
    sums = input_sumsq(example, name, model, nodes)
    assert len(nodes) == len(before)
    for (layer, w), node in zip(before.items(), nodes):
        norms = sums[node.input[0]]
        scores = scores_for(w, norms)
        mask = reference_mask(w, scores, kind)
        got = after[layer] == 0
        wrong = got != (mask | (w == 0))
        # Disagreements only where two scores are within float noise.
        if wrong.any():
            thr = np.sort(scores[mask].ravel())[-1] if kind == "layer" else None
            assert wrong.mean() < 2e-3, (layer, wrong.mean())
            if thr is not None:
                np.testing.assert_allclose(scores[wrong], thr, rtol=1e-4)
        kept = ~got
        np.testing.assert_array_equal(after[layer][kept], w[kept])
    # Wanda is not magnitude: some layer's selection differs.
    mag = layer_weights(prune(build_dir, mlir, options.replace("method=wanda", "")))
    assert any((mag[k] == 0).ravel().tolist() != (after[k] == 0).ravel().tolist()
               for k in after)


def test_wanda_needs_statistics(build_dir, examples, tmp_path):
    mlir = imported(build_dir, examples / "mlp", tmp_path)
    r = tool(build_dir, "quant-opt", mlir, "--qopt-prune=method=wanda")
    assert r.returncode != 0
    assert "qopt-prune: method=wanda needs the input's per-channel sum of " \
           "squares for layer 'fc1.weight'" in r.stderr
    r = tool(build_dir, "quant-compile", examples / "mlp" / "model.onnx",
             "-o", tmp_path / "x.so", "--prune=wanda:0.5")
    assert r.returncode != 0 and "needs --calibration-data" in r.stderr
    assert not (tmp_path / "x.so").exists()


def substitute(example, weights, tmp_path):
    """The ONNX model with its layer weights replaced by `weights` (layer
    order), transposed back where the importer transposed them."""
    model, nodes = layer_inputs(example, None)
    inits = {i.name: i for i in model.graph.initializer}
    for (layer, w), node in zip(weights.items(), nodes):
        init = inits[node.input[1]]
        old = numpy_helper.to_array(init)
        # qopt.linear keeps [out, in]: MatMul's B and Gemm's B without
        # transB are its transpose; Conv filters are as they are.
        trans_b = any(a.name == "transB" and a.i for a in node.attribute)
        new = w if node.op_type == "Conv" or (node.op_type == "Gemm" and trans_b) \
            else w.T
        assert new.shape == old.shape, layer
        init.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(new, np.float32),
                                              init.name))
    path = tmp_path / "pruned.onnx"
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("name,spec", [
    ("transformer", "magnitude:0.5"), ("transformer", "wanda:0.5"),
    ("transformer", "2:4"), ("cnn", "wanda:0.5"), ("mlp", "4:8")])
def test_compiled_pruned_model_matches_onnxruntime(build_dir, examples, tmp_path,
                                                   name, spec):
    """quant-compile --prune against onnxruntime running the model with the
    pruned weights (read back from the pass's output)."""
    example = examples / name
    inp, out = INPUTS[name]
    mlir = imported(build_dir, example, tmp_path)
    emitted = tmp_path / "p.mlir"
    # The same pruning, through quant-opt, for the weights.
    method, _, arg = spec.partition(":")
    if method in ("magnitude", "wanda"):
        opts = f"method={method} sparsity={arg}" + (" scope=row" if method == "wanda" else "")
    else:
        opts = f"granularity=n_m n={method} m={arg}"
    pruned = layer_weights(prune(build_dir, mlir, opts +
                                 f" calibration-data={example / 'calibration'}",
                                 emitted))
    so = tmp_path / "p.so"
    r = tool(build_dir, "quant-compile", example / "model.onnx", "-o", so,
             f"--prune={spec}", "--calibration-data", example / "calibration")
    assert r.returncode == 0, r.stderr
    ref = ort.InferenceSession(str(substitute(example, pruned, tmp_path)),
                               providers=["CPUExecutionProvider"])
    dense = ort.InferenceSession(str(example / "model.onnx"),
                                 providers=["CPUExecutionProvider"])
    for s in sorted(os.listdir(example / "eval")):
        x = example / "eval" / s / f"{inp}.npy"
        r = tool(build_dir, "quant-run", so, "--input", f"{inp}={x}",
                 "--output-dir", tmp_path)
        assert r.returncode == 0, r.stderr
        got = np.load(tmp_path / f"{out}.npy")
        want = ref.run(None, {inp: np.load(x)})[0]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        # And pruning changed the function.
        assert np.abs(dense.run(None, {inp: np.load(x)})[0] - want).max() > 1e-4


def test_shrunk_mlp_equals_channel_pruned(build_dir, examples, tmp_path):
    """channels:0.5 on fc1 and fc2, shrunk: the same outputs as the pruned
    dense model (1e-5), which is onnxruntime on the model with those
    channels zeroed; fc1/fc2 weights physically shrink."""
    example = examples / "mlp"
    mlir = imported(build_dir, example, tmp_path)
    opts = "granularity=channels sparsity=0.5 include=fc[12]"
    dense_text = prune(build_dir, mlir, opts, tmp_path / "pruned.mlir")
    shrunk_text = prune(build_dir, mlir, opts + " shrink=true",
                        tmp_path / "shrunk.mlir")
    pruned = layer_weights(dense_text)
    shrunk = layer_weights(shrunk_text)
    assert pruned["fc1.weight"].shape == (512, 256)
    assert shrunk["fc1.weight"].shape == (256, 256)
    assert shrunk["fc2.weight"].shape == (256, 256)
    assert shrunk["fc3.weight"].shape == (10, 256)
    # The kept rows are the pruned model's nonzero rows, in order.
    alive = np.abs(pruned["fc1.weight"]).sum(axis=1) > 0
    np.testing.assert_array_equal(shrunk["fc1.weight"], pruned["fc1.weight"][alive])
    outs = {}
    for tag in ("pruned", "shrunk"):
        so = tmp_path / f"{tag}.so"
        r = tool(build_dir, "quant-compile", tmp_path / f"{tag}.mlir", "-o", so)
        assert r.returncode == 0, r.stderr
        outs[tag] = so
    ref = ort.InferenceSession(str(substitute(example, pruned, tmp_path)),
                               providers=["CPUExecutionProvider"])
    for s in sorted(os.listdir(example / "eval")):
        x = example / "eval" / s / "input.npy"
        got = {}
        for tag, so in outs.items():
            d = tmp_path / tag
            d.mkdir(exist_ok=True)
            r = tool(build_dir, "quant-run", so, "--input", f"input={x}",
                     "--output-dir", d)
            assert r.returncode == 0, r.stderr
            got[tag] = np.load(d / "logits.npy")
        np.testing.assert_allclose(got["shrunk"], got["pruned"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got["pruned"], ref.run(None, {"input": np.load(x)})[0],
                                   rtol=1e-5, atol=1e-5)


def test_quant_compile_prune_then_quantize_report(build_dir, examples, tmp_path):
    """--prune with --quantize: pruned first, then quantized; the report
    names each layer's sparsity and counts parameters before and after."""
    import json
    example = examples / "mlp"
    so, rep = tmp_path / "m.so", tmp_path / "r.json"
    r = tool(build_dir, "quant-compile", example / "model.onnx", "-o", so,
             "--prune=channels:0.5", "--prune-include=fc[12]", "--shrink-structured",
             "--quantize=w8", "--calibration-data", example / "calibration",
             "--report", rep, "--report-latency-runs=0")
    assert r.returncode == 0, r.stderr
    report = json.loads(rep.read_text())
    assert report["scheme"] == "w8" and report["prune"] == "channels:0.5"
    layers = {l["name"]: l for l in report["layers"]}
    assert layers["fc1.weight"]["parameters"] == {"before": 131072, "after": 65536,
                                                  "nonzero_after": 65536}
    assert layers["fc1.weight"]["sparsity"]["granularity"] == "channels"
    assert layers["fc3.weight"]["sparsity"] is None
    assert layers["fc1.weight"]["quantized_as"].startswith("int8")
    assert report["parameters"]["after"] == 65536 + 65536 + 2560
    assert "sparsity" in r.stdout and "parameters:" in r.stdout


def test_pruned_convolutions_quantize_to_integer_kernels(build_dir, examples,
                                                         tmp_path):
    """--prune=2:4 --quantize=w8a8 on the CNN: the sparsity pattern moves
    with the filter onto the integer convolution (it used to land on the
    float epilogue, which the verifier refused) and the report still
    counts the convolutions' sparsity."""
    import json
    example = examples / "cnn"
    so, rep = tmp_path / "c.so", tmp_path / "r.json"
    r = tool(build_dir, "quant-compile", example / "model.onnx", "-o", so,
             "--prune=2:4", "--quantize=w8a8", "--calibration-data",
             example / "calibration", "--report", rep,
             "--report-latency-runs=0")
    assert r.returncode == 0, r.stderr
    report = json.loads(rep.read_text())
    convs = [l for l in report["layers"]
             if l.get("sparsity") and "conv" in l["name"].lower()]
    assert convs, report["layers"]
    for layer in convs:
        assert layer["sparsity"]["n"] == 2 and layer["sparsity"]["m"] == 4
        assert layer["parameters"]["nonzero_after"] <= \
            layer["parameters"]["before"] // 2
        assert layer["quantized_as"].startswith("int8")


@pytest.mark.parametrize("args,message", [
    (["--prune=3:2"], "N:M needs 1 <= N < M"),
    (["--prune=magnitude:1.5"], "expected magnitude:S"),
    (["--prune=bogus:0.5"], "expected magnitude:S"),
    (["--shrink-structured"], "need --prune"),
    (["--prune=2:4", "--shrink-structured"], "--shrink-structured is for --prune=channels:S, heads:S"),
    (["--prune=2:4", "--prune-scope=global"], "--prune-scope is for"),
    (["--prune=magnitude:0.5", "--prune-method=wanda"], "names its method"),
    (["--prune=magnitude:0.5", "--prune-include=("], "qopt-prune: include regex"),
])
def test_quant_compile_prune_errors(build_dir, examples, tmp_path, args, message):
    r = tool(build_dir, "quant-compile", examples / "mlp" / "model.onnx",
             "-o", tmp_path / "x.so", *args)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr
    assert not (tmp_path / "x.so").exists()


def test_shrunk_transformer_mlp_equals_channel_pruned(build_dir, examples, tmp_path):
    """The transformer block's fc1 -> GELU (Div, Erf, Add, Mul, Mul as
    exported) -> fc2: half of fc1's channels pruned and removed; the
    attention layers (residual connections) are not pruned. Same outputs as
    the pruned dense model and onnxruntime on it (1e-5)."""
    example = examples / "transformer"
    mlir = imported(build_dir, example, tmp_path)
    opts = "granularity=channels sparsity=0.5 include=fc1"
    pruned = layer_weights(prune(build_dir, mlir, opts, tmp_path / "pruned.mlir"))
    r = tool(build_dir, "quant-opt", tmp_path / "pruned.mlir",
             "--qopt-shrink-structured=strict=true", "-o", tmp_path / "shrunk.mlir")
    assert r.returncode == 0, r.stderr
    shrunk = layer_weights((tmp_path / "shrunk.mlir").read_text())
    assert pruned["layers.0.mlp.fc1.weight"].shape == (256, 64)
    assert shrunk["layers.0.mlp.fc1.weight"].shape == (128, 64)
    assert shrunk["layers.0.mlp.fc2.weight"].shape == (64, 128)
    ref = ort.InferenceSession(str(substitute(example, pruned, tmp_path)),
                               providers=["CPUExecutionProvider"])
    sos = {}
    for tag in ("pruned", "shrunk"):
        sos[tag] = tmp_path / f"{tag}.so"
        r = tool(build_dir, "quant-compile", tmp_path / f"{tag}.mlir", "-o", sos[tag])
        assert r.returncode == 0, r.stderr
    for s in sorted(os.listdir(example / "eval")):
        x = example / "eval" / s / "hidden_states.npy"
        got = {}
        for tag, so in sos.items():
            d = tmp_path / tag
            d.mkdir(exist_ok=True)
            r = tool(build_dir, "quant-run", so, "--input", f"hidden_states={x}",
                     "--output-dir", d)
            assert r.returncode == 0, r.stderr
            got[tag] = np.load(d / "output.npy")
        np.testing.assert_allclose(got["shrunk"], got["pruned"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got["pruned"],
                                   ref.run(None, {"hidden_states": np.load(x)})[0],
                                   rtol=1e-4, atol=1e-4)


def test_shrink_refuses_attention_with_reason(build_dir, examples, tmp_path):
    """q_proj's channels go through the attention head split (a reshape):
    pruned channels that are not whole heads stay, and the remark says
    why."""
    example = examples / "transformer"
    mlir = imported(build_dir, example, tmp_path)
    r = tool(build_dir, "quant-opt", mlir,
             "--qopt-prune-pipeline=granularity=channels sparsity=0.25 include=q_proj shrink=true")
    assert r.returncode == 0, r.stderr
    assert ("cannot shrink layer 'layers.0.attn.q_proj.weight': its zero rows are "
            "not whole units: a reshape groups its 64 channels into 4 units of 16 "
            "(attention heads)") in r.stderr
    assert layer_weights(r.stdout)["layers.0.attn.q_proj.weight"].shape == (64, 64)


@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_2of4_layers_use_compressed_storage(build_dir, examples, tmp_path, name):
    """--prune=2:4: the layers lower to values + 2-bit positions and the
    runtime's 2:4 kernel (the artifact is smaller); the kernel and the
    generated loops (--no-kernels) agree, and both match onnxruntime on the
    pruned weights (checked above for the kernel path)."""
    example = examples / name
    inp, out = INPUTS[name]
    sos = {}
    for tag, extra in (("kernel", []), ("loops", ["--no-kernels"]), ("dense", None)):
        sos[tag] = tmp_path / f"{tag}.so"
        args = ["--prune=2:4"] + extra if extra is not None else []
        r = tool(build_dir, "quant-compile", example / "model.onnx", "-o", sos[tag], *args)
        assert r.returncode == 0, r.stderr
    r = tool(build_dir, "quant-compile", example / "model.onnx", "-o",
             tmp_path / "k.mlir", "--prune=2:4", "--emit=mlir")
    assert r.returncode == 0 and "qopt_kernel_matmul_sparse24_f32" in \
        (tmp_path / "k.mlir").read_text()
    assert os.path.getsize(sos["kernel"]) < 0.75 * os.path.getsize(sos["dense"])
    for s in sorted(os.listdir(example / "eval")):
        x = example / "eval" / s / f"{inp}.npy"
        got = {}
        for tag in ("kernel", "loops"):
            d = tmp_path / tag
            d.mkdir(exist_ok=True)
            r = tool(build_dir, "quant-run", sos[tag], "--input", f"{inp}={x}",
                     "--output-dir", d)
            assert r.returncode == 0, r.stderr
            got[tag] = np.load(d / f"{out}.npy")
        np.testing.assert_allclose(got["kernel"], got["loops"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scheme,kernel", [
    ("w8a8", r"qopt_kernel_matmul_sparse24_[su]8s8"),
    ("w8", r"qopt_kernel_matmul_sparse24_w8\b")])
@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_2of4_w8a8_uses_int8_sparse_kernel(build_dir, examples, tmp_path, name,
                                           scheme, kernel):
    """--prune=2:4 --quantize=w8a8 (and weight-only w8): the quantized
    layers keep the 2:4 pattern as int8 values + 2-bit positions and call
    the runtime's int8 2:4 kernel; the artifact is smaller than the dense
    quantized one, equals the generated loops (--no-kernels: the same
    products) and stays close to onnxruntime running the float model with
    the pruned weights (the quantization error only)."""
    example = examples / name
    inp, out = INPUTS[name]
    cal = ["--calibration-data", example / "calibration"]
    sos = {}
    for tag, extra in (("kernel", ["--prune=2:4"]),
                       ("loops", ["--prune=2:4", "--no-kernels"]),
                       ("dense", [])):
        sos[tag] = tmp_path / f"{tag}.so"
        r = tool(build_dir, "quant-compile", example / "model.onnx", "-o", sos[tag],
                 f"--quantize={scheme}", *cal, *extra)
        assert r.returncode == 0, r.stderr
    r = tool(build_dir, "quant-compile", example / "model.onnx", "-o",
             tmp_path / "k.mlir", "--prune=2:4", f"--quantize={scheme}", *cal,
             "--emit=mlir")
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "k.mlir").read_text()
    assert re.search(kernel, text)
    # int8 values + positions: 0.625x the dense int8 weight bytes (the
    # small transformer's artifact is mostly code).
    ratio = {"mlp": 0.8, "transformer": 0.9}[name]
    assert os.path.getsize(sos["kernel"]) < ratio * os.path.getsize(sos["dense"])
    mlir = imported(build_dir, example, tmp_path)
    pruned = layer_weights(prune(build_dir, mlir, "granularity=n_m n=2 m=4",
                                 tmp_path / "p.mlir"))
    ref = ort.InferenceSession(str(substitute(example, pruned, tmp_path)),
                               providers=["CPUExecutionProvider"])
    for s in sorted(os.listdir(example / "eval")):
        x = example / "eval" / s / f"{inp}.npy"
        got = {}
        for tag in ("kernel", "loops"):
            d = tmp_path / tag
            d.mkdir(exist_ok=True)
            r = tool(build_dir, "quant-run", sos[tag], "--input", f"{inp}={x}",
                     "--output-dir", d)
            assert r.returncode == 0, r.stderr
            got[tag] = np.load(d / f"{out}.npy")
        tol = 1e-6 if scheme == "w8a8" else 1e-5  # w8: f32 sums, other order
        np.testing.assert_allclose(got["kernel"], got["loops"], rtol=tol, atol=tol)
        want = ref.run(None, {inp: np.load(x)})[0]
        sqnr = 10 * np.log10(np.sum(want.astype(np.float64) ** 2) /
                             np.sum((got["kernel"] - want).astype(np.float64) ** 2))
        assert sqnr > 25, sqnr


@pytest.mark.parametrize("name,spec", [("mlp", "magnitude:0.8"),
                                       ("transformer", "wanda:0.75")])
def test_high_sparsity_layers_use_csr(build_dir, examples, tmp_path, name, spec):
    """--prune=magnitude:0.8 / wanda:0.75: layers with >= 70% zeros lower to
    CSR storage and the runtime's CSR kernel (the artifact is smaller); the
    kernel equals the generated loops (--no-kernels) and onnxruntime running
    the model with the pruned weights. At 50% the layers stay dense."""
    example = examples / name
    inp, out = INPUTS[name]
    cal = ["--calibration-data", example / "calibration"]
    sos = {}
    for tag, extra in (("kernel", [f"--prune={spec}"]),
                       ("loops", [f"--prune={spec}", "--no-kernels"]),
                       ("dense", [])):
        sos[tag] = tmp_path / f"{tag}.so"
        r = tool(build_dir, "quant-compile", example / "model.onnx", "-o", sos[tag],
                 *cal, *extra)
        assert r.returncode == 0, r.stderr
    for s, csr in ((spec, True), (spec.split(":")[0] + ":0.5", False)):
        r = tool(build_dir, "quant-compile", example / "model.onnx", "-o",
                 tmp_path / "k.mlir", f"--prune={s}", *cal, "--emit=mlir")
        assert r.returncode == 0, r.stderr
        assert ("qopt_kernel_matmul_csr_f32" in (tmp_path / "k.mlir").read_text()) == csr
    ratio = {"mlp": 0.6, "transformer": 0.95}[name]
    assert os.path.getsize(sos["kernel"]) < ratio * os.path.getsize(sos["dense"])
    method, _, arg = spec.partition(":")
    mlir = imported(build_dir, example, tmp_path)
    opts = f"method={method} sparsity={arg}" + (" scope=row" if method == "wanda" else "")
    pruned = layer_weights(prune(build_dir, mlir, opts +
                                 f" calibration-data={example / 'calibration'}",
                                 tmp_path / "p.mlir"))
    ref = ort.InferenceSession(str(substitute(example, pruned, tmp_path)),
                               providers=["CPUExecutionProvider"])
    for s in sorted(os.listdir(example / "eval")):
        x = example / "eval" / s / f"{inp}.npy"
        got = {}
        for tag in ("kernel", "loops"):
            d = tmp_path / tag
            d.mkdir(exist_ok=True)
            r = tool(build_dir, "quant-run", sos[tag], "--input", f"{inp}={x}",
                     "--output-dir", d)
            assert r.returncode == 0, r.stderr
            got[tag] = np.load(d / f"{out}.npy")
        np.testing.assert_allclose(got["kernel"], got["loops"], rtol=1e-5, atol=1e-5)
        want = ref.run(None, {inp: np.load(x)})[0]
        np.testing.assert_allclose(got["kernel"], want, rtol=1e-4, atol=1e-4)

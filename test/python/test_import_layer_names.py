"""Layer names and the Transpose form of the three ways torch.onnx.export
writes a linear layer, on models built with onnx.helper as the exporters
write them:

 * dynamo=True (the default): anonymous [in, out] initializers (`val_0`),
   nodes `node_linear_N`, the module path only in the node's
   `pkg.torch.onnx.name_scopes` metadata;
 * dynamo=False (legacy): `onnx::MatMul_N` [in, out] initializers, the
   module path in the node name (`/model/layers.0/self_attn/q_proj/MatMul`);
 * dynamo=True, optimize=False: the [out, in] parameter under its own name
   (`model.layers.0.self_attn.q_proj.weight`) reaching MatMul through a
   Transpose node.

Each qopt.linear must carry `<module path>.weight` (what --include/--exclude,
reports and --adapter match), --list-layers must print it, and the compiled
model must match onnxruntime. With torch installed, the same is checked on
modules torch.onnx.export writes itself."""

import json
import os
import re
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file

SCOPES_KEY = "pkg.torch.onnx.name_scopes"
Q_PROJ = "model.layers.0.self_attn.q_proj"
DOWN_PROJ = "model.layers.0.mlp.down_proj"
NAMES = [Q_PROJ + ".weight", DOWN_PROJ + ".weight"]


def torch_scopes(module, fx_name):
    """name_scopes as torch writes it: the repr of the module paths from the
    root down to the module, then the FX node's name."""
    parts = module.split(".")
    paths = [""] + [".".join(parts[:i + 1]) for i in range(len(parts))]
    return repr(paths + [fx_name])


def node(op, inputs, outputs, name, scopes=None, **attrs):
    n = helper.make_node(op, inputs, outputs, name=name, **attrs)
    if scopes is not None:
        # What else the exporter writes next to it.
        n.metadata_props.add(key="namespace", value=f": Model/{name}: {op}")
        n.metadata_props.add(key=SCOPES_KEY, value=scopes)
        n.metadata_props.add(key="pkg.torch.onnx.class_hierarchy",
                             value="['Model', 'aten.linear.default']")
    return n


def model_of(nodes, inits, inputs, outputs, opset=18):
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              ir_version=10)
    onnx.checker.check_model(model)
    return model


def vi(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def weights(n_in, n_hid, n_out, seed=0):
    """PyTorch-layout ([out, in]) weights and biases of two linears."""
    rng = np.random.default_rng(seed)
    f = lambda *s: (rng.standard_normal(s) * 0.3).astype(np.float32)
    return f(n_hid, n_in), f(n_hid), f(n_out, n_hid), f(n_out)


def two_linears(form, n_in=8, n_hid=16, n_out=4, scopes=None, seed=0):
    """y = fc2(relu(fc1(x))) with fc1 = q_proj, fc2 = down_proj, x [2, 3, in],
    written as exporter `form` does. `scopes`: the name_scopes value of each
    linear's nodes (default: torch's, for the dynamo forms)."""
    w1, b1, w2, b2 = weights(n_in, n_hid, n_out, seed)
    t = numpy_helper.from_array
    if scopes is None and form != "legacy":
        scopes = [torch_scopes(Q_PROJ, "linear"),
                  torch_scopes(DOWN_PROJ, "linear_1")]
    s1, s2 = scopes or (None, None)
    if form == "dynamo":
        inits = [t(w1.T.copy(), "val_0"), t(b1, "val_1"),
                 t(w2.T.copy(), "val_2"), t(b2, "val_3")]
        nodes = [node("MatMul", ["x", "val_0"], ["linear"], "node_linear", s1),
                 node("Add", ["linear", "val_1"], ["add"], "node_add", s1),
                 node("Relu", ["add"], ["relu"], "node_relu"),
                 node("MatMul", ["relu", "val_2"], ["linear_1"],
                      "node_linear_1", s2),
                 node("Add", ["linear_1", "val_3"], ["y"], "node_add_1", s2)]
    elif form == "legacy":
        inits = [t(w1.T.copy(), "onnx::MatMul_20"), t(b1, Q_PROJ + ".bias"),
                 t(w2.T.copy(), "onnx::MatMul_21"), t(b2, DOWN_PROJ + ".bias")]
        p1, p2 = "/model/layers.0/self_attn/q_proj", "/model/layers.0/mlp/down_proj"
        nodes = [node("MatMul", ["x", "onnx::MatMul_20"], [p1 + "/MatMul_output_0"],
                      p1 + "/MatMul"),
                 node("Add", [Q_PROJ + ".bias", p1 + "/MatMul_output_0"],
                      [p1 + "/Add_output_0"], p1 + "/Add"),
                 node("Relu", [p1 + "/Add_output_0"], ["relu"], "/model/Relu"),
                 node("MatMul", ["relu", "onnx::MatMul_21"],
                      [p2 + "/MatMul_output_0"], p2 + "/MatMul"),
                 node("Add", [DOWN_PROJ + ".bias", p2 + "/MatMul_output_0"], ["y"],
                      p2 + "/Add")]
    elif form == "transpose":
        inits = [t(w1, Q_PROJ + ".weight"), t(b1, Q_PROJ + ".bias"),
                 t(w2, DOWN_PROJ + ".weight"), t(b2, DOWN_PROJ + ".bias")]
        nodes = [node("Transpose", [Q_PROJ + ".weight"], ["permute"],
                      "node_Transpose_0", s1, perm=[1, 0]),
                 node("MatMul", ["x", "permute"], ["matmul"], "node_MatMul_1", s1),
                 node("Add", ["matmul", Q_PROJ + ".bias"], ["linear"],
                      "node_Add_2", s1),
                 node("Relu", ["linear"], ["relu"], "node_relu"),
                 # The default perm reverses the two dims as well.
                 node("Transpose", [DOWN_PROJ + ".weight"], ["permute_1"],
                      "node_Transpose_3", s2),
                 node("MatMul", ["relu", "permute_1"], ["matmul_1"],
                      "node_MatMul_4", s2),
                 node("Add", ["matmul_1", DOWN_PROJ + ".bias"], ["y"],
                      "node_Add_5", s2)]
    else:
        raise ValueError(form)
    return model_of(nodes, inits, [vi("x", [2, 3, n_in])], [vi("y", [2, 3, n_out])])


#===------------------------------------------------------------------------===#
# Tools
#===------------------------------------------------------------------------===#


def tool(build_dir, name, *args):
    return subprocess.run([os.path.join(build_dir, "bin", name), *map(str, args)],
                          capture_output=True, text=True)


def save(model, tmp_path, name="model.onnx"):
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def imported(build_dir, path):
    r = tool(build_dir, "quant-translate", "--import-onnx", path)
    assert r.returncode == 0, r.stderr
    return r.stdout


def layer_names(build_dir, path):
    """The weight_name of each qopt.linear, in order."""
    ir = imported(build_dir, path)
    lines = [l for l in ir.splitlines() if "qopt.linear" in l]
    names = [re.search(r'weight_name = "([^"]*)"', l).group(1) for l in lines]
    assert len(names) == len(lines)
    return names


def listed_layers(build_dir, path, tmp_path):
    r = tool(build_dir, "quant-compile", path, "-o", tmp_path / "unused.so",
             "--list-layers")
    assert r.returncode == 0, r.stderr
    return [l.split()[0] for l in r.stdout.splitlines() if l.strip()]


def run_compiled(build_dir, so, inputs, out_dir):
    args = ["--output-dir", out_dir]
    out_dir.mkdir(exist_ok=True)
    for name, arr in inputs.items():
        np.save(out_dir / f"in_{name}.npy", arr)
        args += ["--input", f"{name}={out_dir / f'in_{name}.npy'}"]
    r = tool(build_dir, "quant-run", so, *args)
    assert r.returncode == 0, r.stderr
    return r


def check_numerics(build_dir, model, path, tmp_path, inputs, *compile_args,
                   reference=None):
    """Compiles `path`, runs it on `inputs` and compares every output with
    onnxruntime on `reference` (default: the model itself)."""
    so = tmp_path / (path.stem + ".so")
    r = tool(build_dir, "quant-compile", path, "-o", so, *compile_args)
    assert r.returncode == 0, r.stderr
    out = tmp_path / (path.stem + "_out")
    run_compiled(build_dir, so, inputs, out)
    sess = ort.InferenceSession((reference or model).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    for name, want in zip(names, sess.run(names, inputs)):
        got = np.load(out / f"{name}.npy")
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=name)


def x_of(n_in, seed=1, shape=(2, 3)):
    return np.random.default_rng(seed).standard_normal(
        (*shape, n_in)).astype(np.float32)


#===------------------------------------------------------------------------===#
# The three forms
#===------------------------------------------------------------------------===#


@pytest.mark.parametrize("form", ["dynamo", "legacy", "transpose"])
@pytest.mark.parametrize("sizes", [(8, 16, 4), (64, 96, 8)],
                         ids=["small", "large"])
def test_forms_names_and_numerics(build_dir, tmp_path, form, sizes):
    """Small weights fold at import, large ones (> 4096 elements) do not:
    both paths name the layer and keep the numerics."""
    model = two_linears(form, *sizes)
    path = save(model, tmp_path)
    assert layer_names(build_dir, path) == NAMES
    assert listed_layers(build_dir, path, tmp_path) == NAMES
    check_numerics(build_dir, model, path, tmp_path, {"x": x_of(sizes[0])})


@pytest.mark.parametrize("sizes", [(8, 16, 4), (64, 96, 8)],
                         ids=["small", "large"])
def test_transpose_form_uses_the_weight_as_stored(build_dir, tmp_path, sizes):
    """MatMul(x, Transpose(W)) is qopt.linear on W itself: [out, in], the
    initializer's blob, no transpose (or transposed copy) left."""
    n_in, n_hid, n_out = sizes
    path = save(two_linears("transpose", *sizes, scopes=[]), tmp_path)
    ir = imported(build_dir, path)
    assert "linalg.transpose" not in ir
    for name, shape in [(Q_PROJ, f"{n_hid}x{n_in}"), (DOWN_PROJ, f"{n_out}x{n_hid}")]:
        const = re.search(r"(%\S+) = arith.constant dense_resource<"
                          + re.escape(name + ".weight") + rf"> : tensor<{shape}xf32>",
                          ir)
        assert const, ir
        assert re.search(r"qopt.linear %\S+, " + re.escape(const.group(1)) + ", ", ir)
    # One blob per initializer: no transposed copy.
    assert len(re.findall(r"^\s+\S+: \"0x", ir, re.M)) == 4
    # Without metadata the layers are named after the initializers.
    assert layer_names(build_dir, path) == NAMES


def test_legacy_called_container(build_dir, tmp_path):
    """The legacy exporter repeats a called container in its child's scope
    (`/encoder/encoder.0/MatMul`): the module is `encoder.0`."""
    w1, _, w2, _ = weights(8, 16, 4)
    t = numpy_helper.from_array
    nodes = [node("MatMul", ["x", "onnx::MatMul_7"], ["h"], "/encoder/encoder.0/MatMul"),
             node("Relu", ["h"], ["r"], "/encoder/encoder.1/Relu"),
             node("MatMul", ["r", "onnx::MatMul_8"], ["y"],
                  "/net/encoder/encoder.2/encoder.2.0/MatMul")]
    model = model_of(nodes, [t(w1.T.copy(), "onnx::MatMul_7"),
                             t(w2.T.copy(), "onnx::MatMul_8")],
                     [vi("x", [2, 3, 8])], [vi("y", [2, 3, 4])])
    path = save(model, tmp_path)
    assert layer_names(build_dir, path) == ["encoder.0.weight",
                                            "net.encoder.2.0.weight"]


#===------------------------------------------------------------------------===#
# name_scopes metadata
#===------------------------------------------------------------------------===#

SCOPE_SPELLINGS = {
    # torch: module paths, then the FX node's name.
    "torch": (torch_scopes(Q_PROJ, "linear"), Q_PROJ + ".weight"),
    # Module paths only: the last one is the module.
    "paths-only": (repr(["", "model", "model.layers.0", Q_PROJ]),
                   Q_PROJ + ".weight"),
    "plain-string": (Q_PROJ, Q_PROJ + ".weight"),
    "double-quotes": ('["", "lm_head", "linear_7"]', "lm_head.weight"),
    # torch.export's spelling of a module reached through a sliced ModuleList.
    "sliced-modulelist": (repr(["", "model", "model.layers.slice(None, 2, None).0",
                                "model.layers.slice(None, 2, None).0.self_attn",
                                "model.layers.slice(None, 2, None).0.self_attn.q_proj",
                                "linear"]), Q_PROJ + ".weight"),
    "dynamo-strict": (repr(["", "L['self'].model",
                            "L['self'].model.layers[slice(None, 2, None)]._modules['0']",
                            "L['self'].model.layers[slice(None, 2, None)]"
                            "._modules['0'].self_attn.q_proj", "linear"]),
                      Q_PROJ + ".weight"),
    # No module stack ([node name] alone), a root-level op, or not a list:
    # the initializer's name.
    "no-module-stack": ("['linear']", "val_0"),
    "root-level": ("['', 'linear']", "val_0"),
    "malformed": ("['', 'model", "val_0"),
}


@pytest.mark.parametrize("spelling", sorted(SCOPE_SPELLINGS))
def test_name_scopes_spellings(build_dir, tmp_path, spelling):
    value, expected = SCOPE_SPELLINGS[spelling]
    model = two_linears("dynamo", scopes=[value, torch_scopes(DOWN_PROJ, "linear_1")])
    path = save(model, tmp_path)
    assert layer_names(build_dir, path) == [expected, DOWN_PROJ + ".weight"]


def test_name_scopes_win_over_node_and_initializer_names(build_dir, tmp_path):
    """Metadata first; the initializer's own name when it is a parameter of
    that module (a raw nn.Parameter used as `x @ self.proj.T`)."""
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((4, 8)) * 0.3).astype(np.float32)
    t = numpy_helper.from_array
    attn = "model.layers.0.self_attn"
    nodes = [
        # A legacy-looking node name and an anonymous initializer: the
        # metadata still decides.
        node("MatMul", ["x", "onnx::MatMul_5"], ["a"], "/wrong/path/MatMul",
             torch_scopes(Q_PROJ, "linear")),
        node("Transpose", [attn + ".proj"], ["pt"], "node_t",
             torch_scopes(attn, "t"), perm=[1, 0]),
        node("MatMul", ["x", "pt"], ["b"], "node_matmul",
             torch_scopes(attn, "matmul")),
        # A weight of another module (tied): the node's module names it.
        node("Transpose", [Q_PROJ + ".weight"], ["qt"], "node_t_1",
             torch_scopes("lm_head", "t_1"), perm=[1, 0]),
        node("MatMul", ["x", "qt"], ["c"], "node_matmul_1",
             torch_scopes("lm_head", "matmul_1")),
        node("Add", ["a", "b"], ["ab"], "node_add"),
        node("Add", ["ab", "c"], ["y"], "node_add_1"),
    ]
    model = model_of(nodes, [t(w.T.copy(), "onnx::MatMul_5"), t(w, attn + ".proj"),
                             t(w, Q_PROJ + ".weight")],
                     [vi("x", [2, 3, 8])], [vi("y", [2, 3, 4])])
    path = save(model, tmp_path)
    assert layer_names(build_dir, path) == [Q_PROJ + ".weight", attn + ".proj",
                                            "lm_head.weight"]
    check_numerics(build_dir, model, path, tmp_path, {"x": x_of(8)})


#===------------------------------------------------------------------------===#
# Gemm, shared and tied weights
#===------------------------------------------------------------------------===#


@pytest.mark.parametrize("sizes", [(8, 16), (64, 96)], ids=["small", "large"])
def test_gemm_forms(build_dir, tmp_path, sizes):
    """Gemm(x, W, b, transB=1) named by its metadata, Gemm(x, Transpose(W), b)
    and Gemm(x, Transpose(Wt), transB=1) (a double transpose: Wt is
    [in, out])."""
    n_in, n_out = sizes
    rng = np.random.default_rng(3)
    f = lambda *s: (rng.standard_normal(s) * 0.3).astype(np.float32)
    w0, w1, w2, b = f(n_out, n_in), f(n_out, n_in), f(n_in, n_out), f(n_out)
    t = numpy_helper.from_array
    nodes = [
        node("Gemm", ["x", "val_0", "fc.bias"], ["a"], "node_linear",
             torch_scopes("fc", "linear"), transB=1),
        node("Transpose", ["g1.weight"], ["t1"], "node_t", perm=[1, 0]),
        node("Gemm", ["x", "t1", "fc.bias"], ["b"], "node_gemm"),
        node("Transpose", ["g2.weight"], ["t2"], "node_t_1"),
        node("Gemm", ["x", "t2"], ["c"], "node_gemm_1", transB=1),
        node("Add", ["a", "b"], ["ab"], "node_add"),
        node("Add", ["ab", "c"], ["y"], "node_add_1"),
    ]
    model = model_of(nodes, [t(w0, "val_0"), t(w1, "g1.weight"), t(w2, "g2.weight"),
                             t(b, "fc.bias")],
                     [vi("x", [5, n_in])], [vi("y", [5, n_out])])
    path = save(model, tmp_path)
    assert layer_names(build_dir, path) == ["fc.weight", "g1.weight", "g2.weight"]
    assert "linalg.transpose" not in imported(build_dir, path)
    check_numerics(build_dir, model, path, tmp_path, {"x": x_of(n_in, shape=(5,))})


def test_transpose_kept_for_its_other_users(build_dir, tmp_path):
    """A Transpose whose result is also a graph output, and a weight also
    used untransposed, stay; the linears use the stored weight."""
    rng = np.random.default_rng(4)
    w = (rng.standard_normal((96, 64)) * 0.3).astype(np.float32)
    emb = (rng.standard_normal((16, 64)) * 0.3).astype(np.float32)
    t = numpy_helper.from_array
    nodes = [
        node("Transpose", ["fc.weight"], ["wt"], "node_t", perm=[1, 0]),
        node("MatMul", ["x", "wt"], ["y"], "node_mm"),
        # A tied embedding: Gather reads it, the head multiplies by its
        # transpose.
        node("Gather", ["embed.weight", "ids"], ["e"], "node_gather"),
        node("Transpose", ["embed.weight"], ["et"], "node_t_1", perm=[1, 0]),
        node("MatMul", ["e", "et"], ["logits"], "node_mm_1",
             torch_scopes("lm_head", "linear")),
    ]
    model = model_of(nodes, [t(w, "fc.weight"), t(emb, "embed.weight")],
                     [vi("x", [2, 64]), vi("ids", [2, 3], TensorProto.INT64)],
                     [vi("y", [2, 96]), vi("wt", [64, 96]), vi("logits", [2, 3, 16])])
    path = save(model, tmp_path)
    assert layer_names(build_dir, path) == ["fc.weight", "lm_head.weight"]
    ir = imported(build_dir, path)
    assert ir.count("linalg.transpose") == 1  # the graph output `wt`
    ids = np.array([[0, 5, 15], [3, 3, 9]], np.int64)
    check_numerics(build_dir, model, path, tmp_path, {"x": x_of(64, shape=(2,)),
                                                      "ids": ids})


def test_transpose_of_non_weights_unchanged(build_dir, tmp_path):
    """Transposes that are no [1, 0] transpose of a 2-D float constant
    (an activation, a 3-D constant) import as before."""
    rng = np.random.default_rng(5)
    w3 = (rng.standard_normal((2, 4, 8)) * 0.3).astype(np.float32)
    t = numpy_helper.from_array
    nodes = [
        node("Transpose", ["z"], ["zt"], "node_t", perm=[1, 0]),
        node("MatMul", ["x", "zt"], ["a"], "node_mm"),
        node("Transpose", ["w3"], ["w3t"], "node_t_1", perm=[0, 2, 1]),
        node("MatMul", ["x3", "w3t"], ["b"], "node_mm_1"),
    ]
    model = model_of(nodes, [t(w3, "w3")],
                     [vi("x", [3, 8]), vi("z", [4, 8]), vi("x3", [2, 3, 8])],
                     [vi("a", [3, 4]), vi("b", [2, 3, 4])])
    path = save(model, tmp_path)
    assert layer_names(build_dir, path) == []
    check_numerics(build_dir, model, path, tmp_path,
                   {"x": x_of(8, shape=(3,)), "z": x_of(8, 2, shape=(4,)),
                    "x3": x_of(8, 3)})


#===------------------------------------------------------------------------===#
# Adapters reach the layers of every form
#===------------------------------------------------------------------------===#


@pytest.mark.parametrize("form", ["dynamo", "legacy", "transpose"])
def test_adapter_matches_every_form(build_dir, tmp_path, form):
    """A PEFT adapter on q_proj and down_proj merges into each form's
    layers: W' = W + alpha / r * B @ A, checked against onnxruntime on the
    model with numpy-merged weights."""
    n_in, n_hid, n_out, r, alpha = 8, 16, 4, 2, 4
    rng = np.random.default_rng(7)
    a1, b1 = rng.standard_normal((r, n_in)), rng.standard_normal((n_hid, r))
    a2, b2 = rng.standard_normal((r, n_hid)), rng.standard_normal((n_out, r))
    mats = {Q_PROJ: (a1 * 0.2, b1 * 0.2), DOWN_PROJ: (a2 * 0.2, b2 * 0.2)}
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    save_file({f"base_model.model.{m}.lora_{k}.weight": v.astype(np.float32)
               for m, (a, b) in mats.items() for k, v in (("A", a), ("B", b))},
              str(adapter / "adapter_model.safetensors"), metadata={"format": "pt"})
    (adapter / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": r, "lora_alpha": alpha,
         "target_modules": ["q_proj", "down_proj"], "bias": "none",
         "fan_in_fan_out": False, "task_type": "CAUSAL_LM"}))

    model = two_linears(form, n_in, n_hid, n_out)
    w1, bias1, w2, bias2 = weights(n_in, n_hid, n_out)
    merged = [w + alpha / r * (b.astype(np.float32).astype(np.float64)
                               @ a.astype(np.float32).astype(np.float64))
              for w, (a, b) in zip((w1, w2), mats.values())]
    reference = two_linears(form, n_in, n_hid, n_out)
    by_shape = {m.shape: m.astype(np.float32) for m in merged}
    for init in reference.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.ndim == 2:
            stored = by_shape.get(arr.shape)
            if stored is None:  # [in, out] forms
                stored = by_shape[arr.shape[::-1]].T.copy()
            init.CopyFrom(numpy_helper.from_array(stored, init.name))
    path = save(model, tmp_path)
    check_numerics(build_dir, model, path, tmp_path, {"x": x_of(n_in)},
                   f"--adapter={adapter}", reference=reference)


#===------------------------------------------------------------------------===#
# Models torch.onnx.export writes (only with torch installed)
#===------------------------------------------------------------------------===#


def torch_model(tmp_path, **export_args):
    torch = pytest.importorskip("torch")
    if export_args.get("dynamo", True):
        pytest.importorskip("onnxscript")
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(8, 16), nn.ReLU(),
                                         nn.Linear(16, 4))

        def forward(self, x):
            return self.encoder(x)

    torch.manual_seed(0)
    module = Block().eval()
    x = torch.randn(2, 3, 8)
    path = tmp_path / "torch.onnx"
    torch.onnx.export(module, (x,), str(path), input_names=["x"],
                      output_names=["y"], **export_args)
    return onnx.load(str(path)), path, x.numpy()


@pytest.mark.parametrize("export_args", [{"dynamo": True},
                                         {"dynamo": True, "optimize": False},
                                         {"dynamo": False}],
                         ids=["dynamo", "dynamo-unoptimized", "legacy"])
def test_torch_export(build_dir, tmp_path, export_args):
    model, path, x = torch_model(tmp_path, **export_args)
    expected = ["encoder.0.weight", "encoder.2.weight"]
    assert layer_names(build_dir, path) == expected
    assert listed_layers(build_dir, path, tmp_path) == expected
    check_numerics(build_dir, model, path, tmp_path, {"x": x})

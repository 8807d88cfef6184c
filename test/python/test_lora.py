"""LoRA adapters end to end: PEFT adapter folders written with numpy and the
safetensors package (PEFT's file names, key names and config fields),
merged by quant-compile --adapter, checked against onnxruntime running the
model whose weights numpy merged with PEFT's formula
W' = W + scale * B @ A (scale = lora_alpha / r, or / sqrt(r) with rsLoRA)."""

import json
import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper
from safetensors.numpy import save_file

import make_examples
import sample_data

# Modules of the bundled transformer block and its (ONNX) MatMul nodes.
MODULES = {
    "layers.0.attn.q_proj": "/layers.0/attn/q_proj/MatMul",
    "layers.0.attn.v_proj": "/layers.0/attn/v_proj/MatMul",
    "layers.0.mlp.fc1": "/layers.0/mlp/fc1/MatMul",
}


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    make_examples.write_model(str(root), "transformer", calib=2, eval_=3)
    return root / "transformer"


def onnx_weights(model):
    """{module: (initializer name, [in, out] array)} of the adapted MatMuls."""
    inits = {i.name: i for i in model.graph.initializer}
    out = {}
    for node in model.graph.node:
        for module, name in MODULES.items():
            if node.name == name:
                init = inits[node.input[1]]
                out[module] = (init.name, numpy_helper.to_array(init))
    assert out.keys() == MODULES.keys()
    return out


def write_adapter(directory, model, modules, r, alpha, seed, dtype=np.float32,
                  **config):
    """A PEFT folder; returns {module: (A, B)} as float64."""
    rng = np.random.default_rng(seed)
    weights = onnx_weights(model)
    tensors, mats = {}, {}
    for m in modules:
        n_in, n_out = weights[m][1].shape
        a = (rng.standard_normal((r, n_in)) * 0.2).astype(dtype)
        b = (rng.standard_normal((n_out, r)) * 0.2).astype(dtype)
        tensors[f"base_model.model.{m}.lora_A.weight"] = a
        tensors[f"base_model.model.{m}.lora_B.weight"] = b
        mats[m] = (a.astype(np.float64), b.astype(np.float64))
    os.makedirs(directory, exist_ok=True)
    save_file(tensors, os.path.join(directory, "adapter_model.safetensors"),
              metadata={"format": "pt"})
    cfg = {"peft_type": "LORA", "r": r, "lora_alpha": alpha,
           "target_modules": sorted({m.split(".")[-1] for m in modules}),
           "bias": "none", "fan_in_fan_out": False, "task_type": "CAUSAL_LM"}
    cfg.update(config)
    with open(os.path.join(directory, "adapter_config.json"), "w") as f:
        json.dump(cfg, f)
    return mats


def merged_model(model, adapters):
    """The ONNX model with W' = W + scale * B @ A for each (mats, scale)."""
    merged = onnx.ModelProto()
    merged.CopyFrom(model)
    weights = onnx_weights(model)
    delta = {m: np.zeros_like(w, dtype=np.float64)
             for m, (_, w) in weights.items()}
    for mats, scales in adapters:
        for m, (a, b) in mats.items():
            delta[m] += scales[m] * (b @ a).T  # ONNX stores W^T: [in, out]
    for init in merged.graph.initializer:
        for m, (name, w) in weights.items():
            if init.name == name:
                init.CopyFrom(numpy_helper.from_array(
                    (w.astype(np.float64) + delta[m]).astype(np.float32),
                    name))
    return merged


def run_ours(build_dir, so, sample, out):
    subprocess.run([os.path.join(build_dir, "bin", "quant-run"), str(so),
                    "--output-dir", str(out)] +
                   sample_data.quant_run_inputs(sample_data.sample_inputs(sample)),
                   check=True, capture_output=True)
    return np.load(out / "output.npy")


def compile_model(build_dir, model, so, *args):
    return subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                           str(model), "-o", str(so), *map(str, args)],
                          capture_output=True, text=True)


def check_against(build_dir, example, so, reference, tmp_path, rtol=1e-5):
    sess = ort.InferenceSession(reference.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    base = ort.InferenceSession(str(example / "model.onnx"),
                                providers=["CPUExecutionProvider"])
    for i, sample in enumerate(sample_data.list_samples(example / "eval")):
        feeds = sample_data.load_inputs(sample)
        want = sess.run(None, feeds)[0]
        got = run_ours(build_dir, so, sample, tmp_path / f"out{i}")
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
        # The adapter changes the output (the test could not pass unmerged).
        assert np.abs(want - base.run(None, feeds)[0]).max() > 1e-3


def test_merge_one_adapter(build_dir, example, tmp_path):
    model = onnx.load(example / "model.onnx")
    mats = write_adapter(tmp_path / "sql", model, list(MODULES), r=4,
                         alpha=8, seed=1)
    so = tmp_path / "m.so"
    r = compile_model(build_dir, example / "model.onnx", so,
                      f"--adapter={tmp_path / 'sql'}")
    assert r.returncode == 0, r.stderr
    ref = merged_model(model, [(mats, {m: 8 / 4 for m in MODULES})])
    check_against(build_dir, example, so, ref, tmp_path)


def test_rslora_patterns_f16_and_two_adapters(build_dir, example, tmp_path):
    """rsLoRA scale alpha / sqrt(r), per-module rank/alpha patterns, F16
    tensors, and two adapters with user weights summed."""
    model = onnx.load(example / "model.onnx")
    a1 = write_adapter(tmp_path / "a1", model, ["layers.0.attn.q_proj",
                                                "layers.0.mlp.fc1"],
                       r=4, alpha=16, seed=2, dtype=np.float16,
                       use_rslora=True, alpha_pattern={"fc1": 4})
    a2 = write_adapter(tmp_path / "a2", model, ["layers.0.attn.v_proj"],
                       r=2, alpha=2, seed=3, rank_pattern={"v_proj": 2})
    so = tmp_path / "m.so"
    r = compile_model(build_dir, example / "model.onnx", so,
                      f"--adapter={tmp_path / 'a1'}:0.5",
                      f"--adapter={tmp_path / 'a2'}:1.5")
    assert r.returncode == 0, r.stderr
    ref = merged_model(model, [
        (a1, {"layers.0.attn.q_proj": 0.5 * 16 / 2.0,
              "layers.0.mlp.fc1": 0.5 * 4 / 2.0}),
        (a2, {"layers.0.attn.v_proj": 1.5 * 2 / 2})])
    check_against(build_dir, example, so, ref, tmp_path)


def test_merge_then_quantize(build_dir, example, tmp_path):
    """--adapter with --quantize: the report compares the quantized merged
    model with the merged float model."""
    model = onnx.load(example / "model.onnx")
    mats = write_adapter(tmp_path / "sql", model, list(MODULES), r=4,
                         alpha=8, seed=4)
    so, report = tmp_path / "q.so", tmp_path / "r.json"
    r = compile_model(build_dir, example / "model.onnx", so,
                      f"--adapter={tmp_path / 'sql'}", "--quantize=w8",
                      f"--eval-data={example / 'eval'}", f"--report={report}",
                      "--report-latency-runs=0")
    assert r.returncode == 0, r.stderr
    rep = json.loads(report.read_text())
    assert rep["outputs"]["eval"]["output"]["sqnr_db"] > 30
    # And against onnxruntime on the merged float model.
    ref = merged_model(model, [(mats, {m: 2.0 for m in MODULES})])
    sess = ort.InferenceSession(ref.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    sample = sample_data.list_samples(example / "eval")[0]
    want = sess.run(None, sample_data.load_inputs(sample))[0]
    got = run_ours(build_dir, so, sample, tmp_path / "o")
    err = got.astype(np.float64) - want
    assert 10 * np.log10(np.sum(want.astype(np.float64) ** 2) /
                         np.sum(err ** 2)) > 30


def test_list_layers(build_dir, example):
    r = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                        str(example / "model.onnx"), "-o", "unused.so",
                        "--list-layers"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    names = [line.split()[0] for line in r.stdout.splitlines()]
    assert names == ["layers.0.attn.q_proj.weight", "layers.0.attn.k_proj.weight",
                     "layers.0.attn.v_proj.weight", "layers.0.attn.o_proj.weight",
                     "layers.0.mlp.fc1.weight", "layers.0.mlp.fc2.weight"]
    assert "qopt.linear" in r.stdout and "tensor<64x64xf32>" in r.stdout
    assert not os.path.exists("unused.so")


def test_adapter_errors(build_dir, example, tmp_path):
    model = onnx.load(example / "model.onnx")
    # A module the model does not have: listed with the layers.
    d = tmp_path / "bad"
    write_adapter(d, model, ["layers.0.attn.q_proj"], r=2, alpha=2, seed=5)
    from safetensors.numpy import load_file
    t = load_file(d / "adapter_model.safetensors")
    t = {k.replace("q_proj", "qq_proj"): v for k, v in t.items()}
    save_file(t, d / "adapter_model.safetensors")
    so = tmp_path / "x.so"
    r = compile_model(build_dir, example / "model.onnx", so, f"--adapter={d}")
    assert r.returncode != 0
    assert "module 'layers.0.attn.qq_proj': matches no layer" in r.stderr
    assert "layers.0.attn.q_proj" in r.stderr
    assert not so.exists()
    # A truncated safetensors file.
    d2 = tmp_path / "trunc"
    write_adapter(d2, model, ["layers.0.attn.q_proj"], r=2, alpha=2, seed=6)
    f = d2 / "adapter_model.safetensors"
    f.write_bytes(f.read_bytes()[:-10])
    r = compile_model(build_dir, example / "model.onnx", so, f"--adapter={d2}")
    assert r.returncode != 0 and "adapter_model.safetensors" in r.stderr
    assert "Traceback" not in r.stderr and not so.exists()


def test_unmerged_adapter_matches_merged(build_dir, example, tmp_path):
    """qopt.lora lowered as it is (base + scale·(x·Aᵀ)·Bᵀ, no merge) gives
    the merged model's outputs."""
    model = onnx.load(example / "model.onnx")
    mats = write_adapter(tmp_path / "sql", model, list(MODULES), r=4,
                         alpha=8, seed=7)
    bindir = os.path.join(build_dir, "bin")
    imported, attached = tmp_path / "m.mlir", tmp_path / "a.mlir"
    subprocess.run([os.path.join(bindir, "quant-translate"), "--import-onnx",
                    str(example / "model.onnx"), "-o", str(imported)],
                   check=True)
    subprocess.run([os.path.join(bindir, "quant-opt"), str(imported),
                    f"--qopt-attach-adapters=adapters={tmp_path / 'sql'}",
                    "-o", str(attached)], check=True)
    assert attached.read_text().count("qopt.lora") == len(MODULES)
    so = tmp_path / "u.so"
    r = compile_model(build_dir, attached, so)
    assert r.returncode == 0, r.stderr
    ref = merged_model(model, [(mats, {m: 2.0 for m in MODULES})])
    check_against(build_dir, example, so, ref, tmp_path)


def run_switch(build_dir, so, sample, out, adapter=None):
    cmd = [os.path.join(build_dir, "bin", "quant-run"), str(so),
           "--output-dir", str(out)]
    cmd += sample_data.quant_run_inputs(sample_data.sample_inputs(sample))
    if adapter:
        cmd += ["--adapter", adapter]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return np.load(out / "output.npy")


def test_switch_mode(build_dir, example, tmp_path):
    """One artifact, two adapters kept apart: each call runs the adapter it
    names, or the base model; each matches the corresponding merged model."""
    model = onnx.load(example / "model.onnx")
    sql = write_adapter(tmp_path / "sql", model, list(MODULES), r=4,
                        alpha=8, seed=8)
    chat = write_adapter(tmp_path / "chat", model, ["layers.0.attn.q_proj"],
                         r=2, alpha=2, seed=9)
    so = tmp_path / "switch.so"
    r = compile_model(build_dir, example / "model.onnx", so,
                      "--adapter-mode=switch", f"--adapter={tmp_path / 'sql'}",
                      f"--adapter={tmp_path / 'chat'}:0.5")
    assert r.returncode == 0, r.stderr
    refs = {
        None: model,
        "sql": merged_model(model, [(sql, {m: 2.0 for m in MODULES})]),
        "chat": merged_model(model, [(chat, {"layers.0.attn.q_proj": 0.5})]),
    }
    for i, sample in enumerate(sample_data.list_samples(example / "eval")):
        feeds = sample_data.load_inputs(sample)
        for adapter, ref in refs.items():
            want = ort.InferenceSession(
                ref.SerializeToString(),
                providers=["CPUExecutionProvider"]).run(None, feeds)[0]
            got = run_switch(build_dir, so, sample,
                             tmp_path / f"o{i}{adapter}", adapter)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5,
                                       err_msg=str(adapter))
    # The signature lists the adapters; an unknown one is an error.
    sample = sample_data.list_samples(example / "eval")[0]
    r = subprocess.run([os.path.join(build_dir, "bin", "quant-run"), str(so),
                        "--adapter", "poem"] +
                       sample_data.quant_run_inputs(
                           sample_data.sample_inputs(sample)),
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "--adapter poem: no such adapter" in r.stderr
    assert "adapter sql (qopt_adapter = 0)" in r.stderr
    assert "adapter chat (qopt_adapter = 1)" in r.stderr


def test_switch_mode_on_a_quantized_base(build_dir, example, tmp_path):
    """QLoRA-style: NF4 base layers, float adapters chosen per call."""
    model = onnx.load(example / "model.onnx")
    sql = write_adapter(tmp_path / "sql", model, list(MODULES), r=4,
                        alpha=8, seed=10)
    so = tmp_path / "q.so"
    r = compile_model(build_dir, example / "model.onnx", so,
                      "--adapter-mode=switch", f"--adapter={tmp_path / 'sql'}",
                      "--quantize=nf4")
    assert r.returncode == 0, r.stderr
    ref = merged_model(model, [(sql, {m: 2.0 for m in MODULES})])
    sample = sample_data.list_samples(example / "eval")[0]
    want = ort.InferenceSession(ref.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(
        None, sample_data.load_inputs(sample))[0]
    got = run_switch(build_dir, so, sample, tmp_path / "o", "sql")
    err = got.astype(np.float64) - want
    sqnr = 10 * np.log10(np.sum(want.astype(np.float64) ** 2) /
                         np.sum(err ** 2))
    assert sqnr > 40
    base = run_switch(build_dir, so, sample, tmp_path / "b")
    assert np.abs(base - got).max() > 1e-3  # the adapter is really applied


def test_switch_mode_keeps_f16_and_bf16_adapters(build_dir, example,
                                                  tmp_path):
    """Adapters saved in f16 or bf16 stay so in a switch artifact (half the
    bytes of f32) and are widened exactly: each matches the merged model
    of its stored values."""
    model = onnx.load(example / "model.onnx")
    big = list(MODULES)  # every adapted layer, rank 32
    f16 = write_adapter(tmp_path / "h", model, big, r=32, alpha=32, seed=12,
                        dtype=np.float16)
    f32 = write_adapter(tmp_path / "s", model, big, r=32, alpha=32, seed=12)
    # bf16 through safetensors' own dtype (numpy has none): f32 values
    # whose low 16 bits are zero, saved as BF16 by hand.
    bf = write_adapter(tmp_path / "b", model, big, r=32, alpha=32, seed=13)
    tensors = {}
    for m, (a, b) in bf.items():
        for which, v in (("A", a), ("B", b)):
            bits = v.astype(np.float32).view(np.uint32) & 0xFFFF0000
            tensors[f"base_model.model.{m}.lora_{which}.weight"] = bits
    header = {k: {"dtype": "BF16", "shape": list(v.shape),
                  "data_offsets": [0, 0]} for k, v in tensors.items()}
    blobs, offset = [], 0
    for k, v in tensors.items():
        raw = (v >> 16).astype("<u2").tobytes()
        header[k]["data_offsets"] = [offset, offset + len(raw)]
        offset += len(raw)
        blobs.append(raw)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(tmp_path / "b" / "adapter_model.safetensors", "wb") as f:
        f.write(len(head).to_bytes(8, "little") + head + b"".join(blobs))
    bf = {m: tuple(tensors[f"base_model.model.{m}.lora_{w}.weight"]
                   .view(np.float32).astype(np.float64) for w in "AB")
          for m in big}
    sizes = {}
    for name in ("h", "s", "b"):
        so = tmp_path / f"{name}.so"
        r = compile_model(build_dir, example / "model.onnx", so,
                          "--adapter-mode=switch",
                          f"--adapter={tmp_path / name}")
        assert r.returncode == 0, r.stderr
        sizes[name] = os.path.getsize(so)
    # 16-bit storage: the adapter bytes halve (r=32 on every layer).
    adapter_f32 = sum(4 * (a.size + b.size) for a, b in f32.values())
    assert sizes["s"] - sizes["h"] > 0.4 * adapter_f32
    assert sizes["s"] - sizes["b"] > 0.4 * adapter_f32
    sample = sample_data.list_samples(example / "eval")[0]
    feeds = sample_data.load_inputs(sample)
    for name, mats in (("h", f16), ("b", bf)):
        ref = merged_model(model, [(mats, {m: 1.0 for m in big})])
        want = ort.InferenceSession(ref.SerializeToString(),
                                    providers=["CPUExecutionProvider"]).run(
            None, feeds)[0]
        got = run_switch(build_dir, tmp_path / f"{name}.so", sample,
                         tmp_path / f"o{name}", name)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5,
                                   err_msg=name)


def test_switch_mode_errors(build_dir, example, tmp_path):
    r = compile_model(build_dir, example / "model.onnx", tmp_path / "x.so",
                      "--adapter-mode=switch")
    assert r.returncode != 0 and "--adapter-mode=switch needs --adapter" in r.stderr
    r = compile_model(build_dir, example / "model.onnx", tmp_path / "x.so",
                      "--adapter-mode=switch", f"--adapter={tmp_path / 'sql'}",
                      "--quantize=w8", f"--eval-data={example / 'eval'}",
                      f"--report={tmp_path / 'r.json'}")
    assert r.returncode != 0
    assert "--report with --adapter-mode=switch is not supported" in r.stderr
    assert not (tmp_path / "x.so").exists()
    # A merged (or plain) artifact has no adapters to choose from.
    so = tmp_path / "plain.so"
    assert compile_model(build_dir, example / "model.onnx", so).returncode == 0
    sample = sample_data.list_samples(example / "eval")[0]
    r = subprocess.run([os.path.join(build_dir, "bin", "quant-run"), str(so),
                        "--adapter", "sql"] +
                       sample_data.quant_run_inputs(
                           sample_data.sample_inputs(sample)),
                       capture_output=True, text=True)
    assert r.returncode != 0 and "has no switchable adapters" in r.stderr


#===------------------------------------------------------------------------===#
# Real PEFT on a transformers Llama (only with torch, transformers and peft)
#===------------------------------------------------------------------------===#


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "legacy"])
def test_real_peft_llama(build_dir, tmp_path, dynamo):
    """PEFT's own adapters (save_pretrained, two of them, one rsLoRA with a
    rank pattern, f16) on a random tiny Llama exported by torch.onnx:
    merged (--adapter) matches PEFT's forward, switch mode matches PEFT
    with each adapter set active, and the base with none."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    if dynamo:
        pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=64)
    base = transformers.LlamaForCausalLM(cfg).eval()

    class Logits(torch.nn.Module):  # the export wraps the model: `m.` prefix
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids):
            # An explicit mask: without one transformers finds packed
            # sequences with torch.diff, which the legacy exporter lacks.
            return self.m(input_ids=input_ids, use_cache=False,
                          attention_mask=torch.ones_like(input_ids)).logits

    ids = torch.randint(0, 64, (1, 8))
    torch.onnx.export(Logits(base), (ids,), str(tmp_path / "base.onnx"),
                      input_names=["input_ids"], output_names=["logits"],
                      dynamo=dynamo, **({} if dynamo else {"opset_version": 17}))
    np.save(tmp_path / "ids.npy", ids.numpy())
    with torch.no_grad():
        want_base = base(input_ids=ids, use_cache=False).logits.numpy()
    configs = {
        "sql": peft.LoraConfig(r=4, lora_alpha=8, init_lora_weights=False,
                               target_modules=["q_proj", "v_proj", "up_proj",
                                               "down_proj"]),
        "chat": peft.LoraConfig(r=8, lora_alpha=4, use_rslora=True,
                                rank_pattern={"o_proj": 2},
                                init_lora_weights=False,
                                target_modules=["o_proj", "gate_proj"]),
    }
    model = peft.get_peft_model(base, configs["sql"], adapter_name="sql")
    model.add_adapter("chat", configs["chat"])
    want = {}
    for name in configs:
        model.set_adapter(name)
        with torch.no_grad():
            want[name] = model(input_ids=ids, use_cache=False).logits.numpy()
        assert np.abs(want[name] - want_base).max() > 1e-2
    model.save_pretrained(str(tmp_path / "adapters"))
    # PEFT saves a non-default adapter in a folder of its name.
    sql, chat = tmp_path / "adapters" / "sql", tmp_path / "adapters" / "chat"
    # The chat adapter re-saved in f16, as PEFT does for f16 models.
    from safetensors.numpy import load_file
    st = chat / "adapter_model.safetensors"
    save_file({k: v.astype(np.float16) for k, v in load_file(st).items()}, st)
    model.set_adapter("chat")
    for mod in model.modules():  # PEFT's forward on the same f16 values
        if hasattr(mod, "lora_A") and "chat" in mod.lora_A:
            for lin in (mod.lora_A["chat"], mod.lora_B["chat"]):
                lin.weight.data = lin.weight.data.half().float()
    with torch.no_grad():
        want["chat"] = model(input_ids=ids, use_cache=False).logits.numpy()

    def run(so, adapter=None):
        out = tmp_path / f"out-{so.stem}-{adapter}"
        cmd = [os.path.join(build_dir, "bin", "quant-run"), str(so),
               "--input", f"input_ids={tmp_path / 'ids.npy'}",
               "--output-dir", str(out)]
        if adapter:
            cmd += ["--adapter", adapter]
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return np.load(out / "logits.npy")

    for name, folder in (("sql", sql), ("chat", chat)):
        so = tmp_path / f"merged-{name}.so"
        r = compile_model(build_dir, tmp_path / "base.onnx", so,
                          f"--adapter={folder}")
        assert r.returncode == 0, r.stderr
        np.testing.assert_allclose(run(so), want[name], rtol=1e-5, atol=1e-5)
    so = tmp_path / "switch.so"
    r = compile_model(build_dir, tmp_path / "base.onnx", so,
                      "--adapter-mode=switch", f"--adapter={sql}",
                      f"--adapter={chat}")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(run(so), want_base, rtol=1e-5, atol=1e-5)
    for name in ("sql", "chat"):
        np.testing.assert_allclose(run(so, name), want[name], rtol=1e-5,
                                   atol=1e-5, err_msg=name)

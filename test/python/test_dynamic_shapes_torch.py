"""Real exports: tiny random-init Llama, Qwen2, Mistral, GPT-2, BERT and ViT
from transformers, exported by torch.onnx (dynamo at opset 18 and the legacy
exporter at opset 17) with dynamic batch and sequence, compiled once without
pinning and run at several sequence lengths and batch sizes against
onnxruntime. Skipped when torch, transformers (or, for the dynamo exporter,
onnxscript) are not installed."""

import os
import warnings

import numpy as np
import pytest

from test_dynamic_shapes import assert_close, onnxruntime_run, quant_run

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCAB = 97
DECODER = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
               num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, max_position_embeddings=128)


def make_model(arch):
    t = transformers
    if arch == "llama":
        return t.LlamaForCausalLM(t.LlamaConfig(**DECODER)), "decoder"
    if arch == "qwen2":
        return t.Qwen2ForCausalLM(t.Qwen2Config(**DECODER)), "decoder"
    if arch == "mistral":
        return t.MistralForCausalLM(t.MistralConfig(
            **DECODER, sliding_window=8)), "decoder"
    if arch == "gpt2":
        return t.GPT2Model(t.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2,
                                        n_head=4, n_positions=128)), "decoder"
    if arch == "bert":
        return t.BertModel(t.BertConfig(
            vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=128)), "encoder"
    return t.ViTModel(t.ViTConfig(hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=4, intermediate_size=64,
                                  image_size=16, patch_size=4)), "vision"


class Wrapper(torch.nn.Module):
    """The first output as a plain tensor; the mask as a second input."""

    def __init__(self, model, kind):
        super().__init__()
        self.model, self.kind = model, kind

    def forward(self, x, mask=None):
        if self.kind == "vision":
            return self.model(pixel_values=x)[0]
        kwargs = {"use_cache": False} if self.kind == "decoder" else {}
        return self.model(input_ids=x, attention_mask=mask, **kwargs)[0]


def export(arch, exporter, path):
    torch.manual_seed(0)
    model, kind = make_model(arch)
    model.eval()
    if kind == "vision":
        args, names = (torch.randn(2, 3, 16, 16),), ["pixel_values"]
    elif kind == "decoder" and exporter == "dynamo":
        args, names = (torch.randint(0, VOCAB, (2, 7)),), ["input_ids"]
    else:  # the legacy exporter cannot trace transformers' mask without one
        ids = torch.randint(0, VOCAB, (2, 7))
        args, names = (ids, torch.ones_like(ids)), ["input_ids",
                                                    "attention_mask"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            pytest.importorskip("onnxscript")
            batch = torch.export.Dim("batch", min=1, max=64)
            seq = torch.export.Dim("sequence", min=1, max=100)
            shapes = tuple({0: batch} if kind == "vision" else
                           {0: batch, 1: seq} for _ in names)
            torch.onnx.export(Wrapper(model, kind), args, path,
                              input_names=names, output_names=["out"],
                              dynamic_shapes=shapes, dynamo=True,
                              opset_version=18)
        else:
            axes = {n: {0: "batch"} if kind == "vision" else
                    {0: "batch", 1: "sequence"} for n in names}
            torch.onnx.export(Wrapper(model, kind), args, path,
                              input_names=names, output_names=["out"],
                              dynamic_axes=axes, dynamo=False,
                              opset_version=17)
    return kind, names


@pytest.mark.parametrize("exporter", ["dynamo", "legacy"])
@pytest.mark.parametrize("arch", ["llama", "qwen2", "mistral", "gpt2", "bert",
                                  "vit"])
def test_real_export_runs_at_every_length(arch, exporter, build_dir,
                                          tmp_path):
    import subprocess

    model = str(tmp_path / f"{arch}.onnx")
    kind, names = export(arch, exporter, model)
    so = str(tmp_path / f"{arch}.so")
    res = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                          model, "-o", so], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    shapes = [(1, 0), (2, 0), (5, 0)] if kind == "vision" else \
        [(1, 1), (1, 6), (2, 13), (3, 31)]
    for batch, seq in shapes:
        rng = np.random.default_rng(100 * batch + seq)
        if kind == "vision":
            feeds = {names[0]: rng.standard_normal(
                (batch, 3, 16, 16)).astype(np.float32)}
        else:
            feeds = {names[0]: rng.integers(0, VOCAB, (batch, seq),
                                            dtype=np.int64)}
            if len(names) > 1:
                mask = np.ones((batch, seq), np.int64)
                mask[0, seq // 2 + 1:] = 0
                feeds[names[1]] = mask
        out = tmp_path / f"{batch}_{seq}"
        out.mkdir()
        assert_close(quant_run(build_dir, so, feeds, out),
                     onnxruntime_run(model, feeds))

"""LoRA adapters through quant_opt.compile (merged and switched, chosen per
call with adapter=), the example script, and the type stubs."""

import ast
import inspect
import os
import sys

import numpy as np
import pytest

import quant_opt
from qopt_testutil import mlp_model, onnxruntime_run, with_weight, write_adapter


@pytest.fixture(scope="module")
def adapters(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    model = mlp_model()
    d1 = write_adapter(str(root / "sql"), "w1", 16, 32, r=4, alpha=8, seed=1)
    d2 = write_adapter(str(root / "chat"), "w2", 32, 8, r=2, alpha=2, seed=2)
    return model, root, {"sql": with_weight(model, "w1", d1),
                         "chat": with_weight(model, "w2", d2)}


def test_merged_adapter_matches_onnxruntime(adapters):
    model, root, merged = adapters
    art = quant_opt.compile(model, adapters=[root / "sql"])
    x = {"x": np.random.default_rng(3).standard_normal((3, 16)).astype(np.float32)}
    want = onnxruntime_run(merged["sql"], x)["y"]
    np.testing.assert_allclose(art(**x)["y"], want, rtol=1e-5, atol=1e-5)
    assert not np.allclose(want, onnxruntime_run(model, x)["y"], atol=1e-3)


def test_switched_adapters_per_call(adapters):
    model, root, merged = adapters
    art = quant_opt.compile(model, adapters=[root / "sql", root / "chat"],
                            adapter_mode="switch")
    assert sorted(art.adapters) == ["chat", "sql"]
    assert "qopt_adapter" in [t.name for t in art.inputs]
    x = {"x": np.random.default_rng(4).standard_normal((2, 16)).astype(np.float32)}
    for name in ("sql", "chat"):
        np.testing.assert_allclose(art(**x, adapter=name)["y"],
                                   onnxruntime_run(merged[name], x)["y"],
                                   rtol=1e-5, atol=1e-5)
        i = art.adapters.index(name)
        np.testing.assert_allclose(art.run(x, adapter=i)["y"],
                                   onnxruntime_run(merged[name], x)["y"],
                                   rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(art(**x)["y"], onnxruntime_run(model, x)["y"],
                               rtol=1e-5, atol=1e-5)  # none: the base model
    with pytest.raises(quant_opt.InputError, match="unknown adapter 'nope'"):
        art(**x, adapter="nope")
    with pytest.raises(quant_opt.CompileError, match="needs --adapter"):
        quant_opt.compile(model, adapter_mode="switch")


def test_example_script_plots_sqnr(tmp_path):
    examples = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
    sys.path.insert(0, os.path.abspath(examples))
    import python_quantize_sqnr
    out = tmp_path / "sqnr.png"
    result = python_quantize_sqnr.main(["--model", "mlp", "--calib", "4",
                                        "--eval", "2", "--out", str(out)])
    with open(out, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert len(result["layers"]) >= 2
    assert all(np.isfinite(v) and v > 10 for v in result["layers"].values())
    assert result["output_sqnr_db"] > 10


def test_stubs_match_the_package():
    """Every name the stubs export exists, and compile()'s keywords agree."""
    pkg = os.path.dirname(quant_opt.__file__)
    with open(os.path.join(pkg, "__init__.pyi")) as f:
        tree = ast.parse(f.read())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom) and node.level >= 1:
            names.update(a.asname or a.name for a in node.names)
    for name in names:
        assert hasattr(quant_opt, name), name
    stub = next(n for n in tree.body
                if isinstance(n, ast.FunctionDef) and n.name == "compile")
    stub_kw = [a.arg for a in stub.args.kwonlyargs]
    real_kw = [p.name for p in inspect.signature(quant_opt.compile).parameters.values()
               if p.kind is p.KEYWORD_ONLY]
    assert stub_kw == real_kw
    for stub_file in ("_runtime.pyi", "_compiler.pyi", "py.typed"):
        assert os.path.exists(os.path.join(pkg, stub_file))

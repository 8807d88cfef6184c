"""quant_opt.ir: the qopt dialect over MLIR's C API (libQOptCAPI)."""

import numpy as np
import pytest

import quant_opt
from quant_opt import ir
from qopt_testutil import mlp_model

LINEAR = """
func.func @main(%x: tensor<4x16xf32>) -> tensor<4x8xf32> {
  %w = arith.constant dense<0.5> : tensor<8x16xf32>
  %y = qopt.linear %x, %w {weight_name = "fc"} : (tensor<4x16xf32>, tensor<8x16xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
"""


def linear_text():
    """A graph-level module with one qopt.linear (imported, then printed)."""
    return str(quant_opt.import_onnx(mlp_model()))


def test_context_has_qopt_and_upstream_dialects():
    ctx = ir.Context()
    for d in ("qopt", "func", "linalg", "arith", "quant", "tensor"):
        assert ctx.is_registered(d), d
    assert not ctx.is_registered("no_such_dialect")
    from quant_opt import _compiler
    assert _compiler.qopt_dialect_namespace() == "qopt"


def test_parse_print_round_trip():
    text = linear_text()
    assert "qopt.linear" in text
    # Each parse in a fresh context: dense_resource names are uniqued per
    # context (a second parse into one context renames the blobs).
    m = ir.Module.parse(text, ir.Context())
    printed = str(m)
    assert ir.Module.parse(printed, ir.Context()).to_string() == printed
    generic = m.to_string(generic=True)
    assert '"qopt.linear"' in generic
    assert str(ir.Module.parse(generic, ir.Context())) == printed
    m.verify()


def test_run_pipeline_quantizes():
    with ir.Context():
        m = ir.Module.parse(linear_text())
        assert m.run_pipeline("qopt-ptq{scheme=w8}") is m
        text = str(m)
    assert "qopt.qlinear" in text and "qopt.linear " not in text
    assert "weight_format<int8>" in text and "tensor<32x16xi8>" in text
    # A pass list with options, anchored on builtin.module.
    m2 = ir.Module.parse(linear_text())
    m2.run_pipeline("builtin.module(qopt-insert-observers,canonicalize)")
    assert "qopt.observe" in str(m2)


def test_lowering_pipeline_reaches_llvm():
    m = quant_opt.import_onnx(mlp_model())
    m.run_pipeline("qopt-cpu-pipeline")
    text = str(m)
    assert "llvm.func" in text and "qopt." not in text.replace("qopt_", "")


def test_import_onnx_options_and_errors(tmp_path):
    import onnx
    model = mlp_model()
    onnx.save(model, tmp_path / "m.onnx")
    for source in (model, model.SerializeToString(), tmp_path / "m.onnx"):
        assert "tensor<?x16xf32>" in str(quant_opt.import_onnx(source))
    pinned = quant_opt.import_onnx(model, pin_dim="batch=3")
    assert "tensor<3x16xf32>" in str(pinned)
    bad = mlp_model()
    bad.graph.node[0].op_type = "NoSuchOp"
    with pytest.raises(quant_opt.CompileError, match="/fc1/MatMul.*NoSuchOp"):
        quant_opt.import_onnx(bad)
    with pytest.raises(quant_opt.CompileError, match="--pin-dim"):
        quant_opt.import_onnx(model, pin_dim="batch")


def test_ir_errors():
    ctx = ir.Context()
    with pytest.raises(quant_opt.IRError, match="cannot parse"):
        ir.Module.parse("func.func @f( {", ctx)
    # A verifier error of the qopt dialect, with its message.
    with pytest.raises(quant_opt.IRError, match="qopt.linear"):
        ir.Module.parse(LINEAR.replace("8x16xf32>)", "8x15xf32>)").replace(
            "dense<0.5> : tensor<8x16xf32>", "dense<0.5> : tensor<8x15xf32>"), ctx)
    m = ir.Module.parse(linear_text(), ctx)
    with pytest.raises(quant_opt.IRError, match="does not refer to a registered pass"):
        m.run_pipeline("qopt-no-such-pass")
    with pytest.raises(quant_opt.IRError, match="failed"):
        m.run_pipeline("qopt-ptq{scheme=w8a8}")  # no calibration data
    assert "qopt.linear" in str(m)


def test_pass_listing():
    all_passes = {p.name: p for p in ir.passes()}
    assert len(all_passes) > 100  # upstream's too
    qopt = ir.passes("qopt-")
    names = [p.name for p in qopt]
    assert names == sorted(names)
    for name in ("qopt-quantize", "qopt-insert-observers", "qopt-fold-lora",
                 "qopt-attach-adapters"):
        assert name in names and not all_passes[name].is_pipeline
        assert all_passes[name].summary
    for name in ("qopt-ptq", "qopt-cpu-pipeline"):
        assert all_passes[name].is_pipeline and all_passes[name].summary
    assert "canonicalize" in all_passes


def test_import_registers_options_once():
    """libQOptCAPI.so carries MLIR's C API archive beside libMLIR.so: loading
    it must not register LLVM/MLIR command-line options twice (LLVM aborts
    with 'Option ... registered more than once'). A fresh interpreter loads
    both extensions and runs a pipeline."""
    import subprocess
    import sys
    code = ("import quant_opt, quant_opt.ir as ir; "
            "m = quant_opt.import_onnx(__import__('qopt_testutil').mlp_model()); "
            "m.run_pipeline('canonicalize'); print('ok', len(ir.passes()))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, cwd=__import__("os").path.dirname(__file__))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ok ")
    assert "registered more than once" not in res.stderr

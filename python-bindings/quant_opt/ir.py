"""quant_opt.ir: the qopt dialect from Python, over MLIR's C API.

    ctx = quant_opt.ir.Context()           # every upstream dialect + qopt
    m = quant_opt.ir.Module.parse(text, ctx)
    m.run_pipeline("qopt-ptq{scheme=w8}")  # any registered pass or pipeline
    print(m)
    m = quant_opt.import_onnx("model.onnx", ctx)
    quant_opt.ir.passes("qopt")            # [PassInfo(name, summary, is_pipeline)]

Debian ships no MLIR Python bindings; this module wraps libQOptCAPI.so, which
carries quant-opt's C API (include/qopt-c/) and MLIR's core C API. Projects
with their own MLIR Python build load the dialect through
`mlirGetDialectHandle__qopt__` instead (docs/CAPI.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, List, Optional, Union

from . import _runtime  # noqa: F401  (loads the package's libqopt_runtime first)
from . import _compiler
from ._compile import _flag_value, _model_source
from ._errors import IRError

__all__ = ["Context", "Module", "PassInfo", "import_onnx", "passes"]

_default: Optional["Context"] = None


class Context:
    """An MLIRContext holding qopt and every upstream dialect, with qopt's
    passes and pipelines registered. Usable as a context manager that makes
    it the default for Module.parse / import_onnx."""

    def __init__(self):
        self._ctx = _compiler.Context()
        self._previous: List[Optional[Context]] = []

    def is_registered(self, dialect: str) -> bool:
        """Whether `dialect` (a namespace: "qopt", "linalg", ...) is loaded."""
        return self._ctx.is_registered(dialect)

    def __enter__(self) -> "Context":
        global _default
        self._previous.append(_default)
        _default = self
        return self

    def __exit__(self, *exc) -> None:
        global _default
        _default = self._previous.pop()


def _context(context: Optional[Context]) -> Context:
    if context is not None:
        return context
    if _default is not None:
        return _default
    return Context()


class Module:
    """A builtin.module in a Context."""

    def __init__(self, raw, context: Context):
        self._m = raw
        self.context = context

    @staticmethod
    def parse(text: str, context: Optional[Context] = None) -> "Module":
        """Parses MLIR text (generic or custom form); IRError with the
        parser's diagnostics when it fails."""
        ctx = _context(context)
        return Module(_compiler.Module.parse(ctx._ctx, text), ctx)

    def __str__(self) -> str:
        return self._m.str()

    def to_string(self, *, generic: bool = False, debug_info: bool = False) -> str:
        return self._m.str(generic, debug_info)

    def verify(self) -> None:
        """IRError with the verifier's diagnostics if the module is invalid."""
        self._m.verify()

    def run_pipeline(self, pipeline: str) -> "Module":
        """Runs a textual pass pipeline on the module in place (a pass list
        such as "qopt-ptq{scheme=w8},canonicalize" is anchored on
        builtin.module). The GIL is released while it runs. Returns self."""
        self._m.run_pipeline(pipeline)
        return self


def import_onnx(model: Any, context: Optional[Context] = None,
                **options: Any) -> Module:
    """Imports an ONNX model (path, bytes or onnx.ModelProto) at the graph
    level. `options` are quant-compile's import flags: pin_shape, pin_dim,
    freeze_input, default_opset. Errors (naming the ONNX node) raise
    quant_opt.CompileError."""
    ctx = _context(context)
    path, data, name = _model_source(model)
    if path:
        with open(path, "rb") as f:
            data = f.read()
        name = os.path.abspath(path)
    flags = []
    for key, value in options.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        flags += [(key.replace("_", "-"), _flag_value(v)) for v in values]
    return Module(_compiler.Module.import_onnx(ctx._ctx, data, name, flags), ctx)


@dataclass(frozen=True)
class PassInfo:
    name: str
    summary: str
    is_pipeline: bool


def passes(prefix: str = "") -> List[PassInfo]:
    """Every registered pass and pipeline whose name starts with `prefix`
    (qopt's and upstream's), sorted by name."""
    return [PassInfo(*p) for p in _compiler.passes(prefix)]

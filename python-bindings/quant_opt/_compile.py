"""quant_opt.compile: quant-compile in process, with its options struct."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from typing import (Any, Callable, Dict, Iterable, Mapping, Optional, Sequence,
                    Tuple, Union)

import numpy as np

from . import _runtime  # noqa: F401  (loads the package's libqopt_runtime first)
from . import _compiler
from ._artifact import Artifact
from ._errors import CompileError

# Calibration runs through the runtime's process-wide session: one
# compilation at a time (the GIL is released while it runs).
_lock = threading.Lock()

ModelLike = Union[str, os.PathLike, bytes, Any]
Adapters = Union[str, os.PathLike, Sequence[Union[str, os.PathLike, Tuple[Any, float]]],
                 Mapping[str, float]]


def _model_source(model: ModelLike) -> Tuple[str, bytes, str]:
    """(path, bytes, name): a path, ONNX bytes, or an onnx.ModelProto."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise CompileError(f"no model file '{path}'")
        return path, b"", ""
    if isinstance(model, (bytes, bytearray, memoryview)):
        return "", bytes(model), "model.onnx"
    if hasattr(model, "SerializeToString"):
        return "", model.SerializeToString(), "model.onnx"
    raise TypeError("model must be a path, ONNX bytes or an onnx.ModelProto, "
                    f"not {type(model).__name__}")


def _flag_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return os.fspath(value) if isinstance(value, os.PathLike) else str(value)


def _adapter_flags(adapters: Adapters) -> list:
    if isinstance(adapters, (str, os.PathLike)):
        adapters = [adapters]
    items = adapters.items() if isinstance(adapters, Mapping) else adapters
    out = []
    for a in items:
        if isinstance(a, tuple):
            out.append(("adapter", f"{os.fspath(a[0])}:{a[1]}"))
        else:
            out.append(("adapter", os.fspath(a)))
    return out


def write_samples(samples: Iterable[Mapping[str, Any]], directory: str,
                  progress: bool = True) -> int:
    """Writes in-memory samples ({input name: array}) as quant-compile's
    calibration layout (one folder per sample, <name>.npy); returns the
    count. Shows a tqdm progress bar when tqdm is installed."""
    it = samples
    if progress:
        try:
            from tqdm import tqdm
            it = tqdm(samples, desc="calibration samples", unit="sample",
                      leave=False)
        except ImportError:
            pass
    n = 0
    for n, sample in enumerate(it, 1):
        if not isinstance(sample, Mapping):
            raise CompileError(f"calibration sample {n - 1} is a "
                               f"{type(sample).__name__}, expected a dict "
                               "{input name: array}")
        folder = os.path.join(directory, f"sample_{n - 1:06d}")
        os.makedirs(folder)
        for name, value in sample.items():
            if os.sep in name or name in ("", ".", ".."):
                raise CompileError(f"calibration sample {n - 1}: input name "
                                   f"'{name}' cannot be a file name")
            np.save(os.path.join(folder, name + ".npy"), np.asarray(value))
    if n == 0:
        raise CompileError("calibration: no samples given")
    return n


class _Progress:
    """The calibration progress hook: a tqdm bar, or the user's callable."""

    def __init__(self, progress):
        self._progress = progress
        self._bar = None

    def __enter__(self):
        if callable(self._progress):
            return self._progress
        if not self._progress:
            return None
        try:
            from tqdm import tqdm
        except ImportError:
            return None

        def hook(done, total):
            if self._bar is None:
                self._bar = tqdm(total=total, desc="calibration", unit="sample",
                                 leave=False)
            self._bar.update(done - self._bar.n)
        return hook

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.close()


def compile(model: ModelLike, *, output: Union[str, os.PathLike, None] = None,
            target: str = "cpu", gpu_arch: Optional[str] = None,
            quantize: Optional[str] = None,
            calibration: Union[str, os.PathLike, Iterable[Mapping[str, Any]], None] = None,
            calibration_method: Optional[str] = None,
            adapters: Optional[Adapters] = None,
            adapter_mode: Optional[str] = None,
            eval_data: Union[str, os.PathLike, Iterable[Mapping[str, Any]], None] = None,
            report: Optional[bool] = None,
            progress: Union[bool, Callable[[int, int], Optional[bool]]] = True,
            **options: Any) -> Artifact:
    """Compiles `model` (a path to .onnx/.onnxtext/.mlir, ONNX bytes or an
    onnx.ModelProto) into an artifact and loads it.

    The options are quant-compile's (one options struct in C++,
    qopt::CompileOptions): the named keywords, and any other flag by its
    name with underscores (`group_size=64`, `smoothquant=0.5`,
    `exclude="head"`, `pin_shape=["x=1x16"]`, `cpu="x86-64-v3"`, `O=2`,
    `threads=4`); list values repeat a flag. `calibration` is a sample
    folder (quant-compile's layout) or an iterable of {input name: array}
    dicts. With `quantize`, `report=True` computes the accuracy report
    (per-layer SQNR, output SQNR, weight bytes, latency), available as
    `artifact.report`. Errors raise quant_opt.CompileError with the message
    quant-compile prints. Without `output`, the artifact lives in a
    temporary folder removed with it (`artifact.save(path)` keeps it).
    """
    path, data, name = _model_source(model)
    flags: list = [("target", target)]
    if gpu_arch is not None:
        flags.append(("gpu-arch", gpu_arch))
    if quantize is not None:
        flags.append(("quantize", quantize))
    if calibration_method is not None:
        flags.append(("calibration-method", calibration_method))
    if adapters is not None:
        flags += _adapter_flags(adapters)
    if adapter_mode is not None:
        flags.append(("adapter-mode", adapter_mode))
    for key, value in options.items():
        key = key.replace("_", "-")
        if key in ("emit", "o", "output"):
            raise CompileError(f"'{key}' is not a compile() option: compile "
                               "writes a shared-library artifact (use "
                               "quant-compile --emit for other outputs)")
        if key == "report":
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        flags += [(key, _flag_value(v)) for v in values]
    # The report compares float and quantized (or pruned) runs on samples:
    # by default it is made whenever there are samples to run and the model
    # is quantized or pruned; report=True asks for it in any case (a QDQ
    # model compiled without quantize/prune: the list of folded layers).
    if report is None:
        report = ((calibration is not None or eval_data is not None)
                  and (quantize is not None or "prune" in options))
    if report:
        flags.append(("report", "true"))

    owned = tempfile.mkdtemp(prefix="quant_opt-")
    try:
        for key, source in (("calibration-data", calibration), ("eval-data", eval_data)):
            if source is None:
                continue
            if isinstance(source, (str, os.PathLike)):
                flags.append((key, os.fspath(source)))
            else:
                folder = os.path.join(owned, key)
                os.makedirs(folder)
                write_samples(source, folder, progress)
                flags.append((key, folder))
        out = os.fspath(output) if output is not None else os.path.join(owned, "model.so")
        with _lock, _Progress(progress) as hook:
            report_json, _table = _compiler.compile(path, data, name, out, flags,
                                                    hook)
        parsed = json.loads(report_json) if report_json else None
        art = Artifact(out, report=parsed,
                       _owned_dir=owned if output is None else None)
    except BaseException:
        import shutil
        shutil.rmtree(owned, ignore_errors=True)
        raise
    if output is not None:
        import shutil
        shutil.rmtree(owned, ignore_errors=True)
    return art


def option_keys() -> Dict[str, str]:
    """quant-compile's option names (as compile() keywords use them, with
    dashes) and a short description of each."""
    out = {}
    for line in _compiler.option_keys().splitlines():
        key, _, desc = line.partition("\t")
        out[key] = desc
    return out

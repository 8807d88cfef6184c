"""Artifacts: compiled models loaded through the lean runtime."""

from __future__ import annotations

import os
import shutil
import statistics
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _runtime
from ._errors import InputError

# numpy has no type for these runtime dtypes: they travel in their storage
# type (4/2-bit integers one per byte, bfloat16 as uint16 bits, float8 and
# float4 as uint8 codes).
_STORAGE = {
    "int4": "int8", "int2": "int8", "uint4": "uint8", "uint2": "uint8",
    "bfloat16": "uint16", "float8_e4m3fn": "uint8", "float8_e4m3fnuz": "uint8",
    "float8_e5m2": "uint8", "float8_e5m2fnuz": "uint8", "float4_e2m1fn": "uint8",
}

Dim = Union[int, str, None]


@dataclass(frozen=True)
class TensorInfo:
    """One input or output of an artifact.

    `shape` holds an int per static dim and, for a dynamic dim, its ONNX
    dim_param name (a str) or None when it has none. `dtype` is the
    runtime's name ("float32", "int8", "int4", "bfloat16", ...);
    `numpy_dtype` is the numpy type that holds it.
    """

    name: str
    dtype: str
    shape: Tuple[Dim, ...]

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(_STORAGE.get(self.dtype, self.dtype))

    def __str__(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {self.dtype}[{dims}]"


def _infos(raw) -> List[TensorInfo]:
    out = []
    for name, dtype, dims, dim_names in raw:
        shape = tuple(d if d >= 0 else (n or None) for d, n in zip(dims, dim_names))
        out.append(TensorInfo(name, dtype, shape))
    return out


def _bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


class Artifact:
    """A compiled model: call it with its inputs, get a dict of numpy arrays.

    Inputs are given by name (`artifact(x=array)`, or `artifact.run({...})`
    for names that are not identifiers) or positionally in signature order.
    numpy arrays that are C-contiguous and of the input's dtype, and CPU
    tensors of any DLPack library (torch, jax, ...), are passed to the
    compiled code without a copy; Python lists and scalars are converted.
    Outputs are numpy arrays over the runtime's result buffers (no copy).
    The GIL is released while the model runs, so several threads may call
    one artifact at once.
    """

    def __init__(self, path: str, *, report: Optional[dict] = None,
                 _owned_dir: Optional[str] = None):
        # dlopen searches the library path for a name without a slash.
        path = os.path.abspath(os.fspath(path))
        self._model = _runtime.Model(path)
        self.path = path
        self.report: Optional[dict] = report
        self._owned_dir = _owned_dir
        self.inputs: List[TensorInfo] = _infos(self._model.inputs())
        self.outputs: List[TensorInfo] = _infos(self._model.outputs())
        self.adapters: List[str] = list(self._model.adapters())
        self._input_index = {t.name: i for i, t in enumerate(self.inputs)}

    def __del__(self):
        owned = getattr(self, "_owned_dir", None)
        if owned:
            self._model = None
            shutil.rmtree(owned, ignore_errors=True)

    @property
    def target(self) -> str:
        """The target the artifact was compiled for ("cpu", "nvptx")."""
        return self._model.target

    @property
    def signature(self) -> str:
        """The signature as text, one line per input and output."""
        return self._model.signature

    def __repr__(self) -> str:
        ins = ", ".join(str(t) for t in self.inputs)
        outs = ", ".join(str(t) for t in self.outputs)
        return f"<quant_opt.Artifact {self.target} ({ins}) -> ({outs})>"

    # --- running ---------------------------------------------------------
    def _arrays(self, args: Sequence[Any], inputs: Mapping[str, Any],
                adapter: Union[str, int, None]) -> list:
        values: List[Any] = [None] * len(self.inputs)
        if len(args) > len(self.inputs):
            raise InputError(f"the model takes {len(self.inputs)} inputs, got "
                             f"{len(args)} positional arguments\nexpected "
                             f"signature:\n{self.signature}")
        for i, v in enumerate(args):
            values[i] = v
        for name, v in inputs.items():
            i = self._input_index.get(name)
            if i is None:
                raise InputError(f"the model has no input '{name}'\nexpected "
                                 f"signature:\n{self.signature}")
            if values[i] is not None:
                raise InputError(f"input '{name}' is given twice")
            values[i] = v
        if "qopt_adapter" in self._input_index:
            i = self._input_index["qopt_adapter"]
            if values[i] is None:
                values[i] = np.array(self._adapter_index(adapter), np.int64)
            elif adapter is not None:
                raise InputError("give either adapter= or qopt_adapter, not both")
        elif adapter is not None:
            raise InputError("this artifact has no switchable adapters "
                             "(compile with adapters=..., adapter_mode='switch')")
        missing = [t.name for t, v in zip(self.inputs, values) if v is None]
        if missing:
            raise InputError(f"missing input(s) {', '.join(missing)}\nexpected "
                             f"signature:\n{self.signature}")
        return [self._convert(t, v) for t, v in zip(self.inputs, values)]

    def _adapter_index(self, adapter: Union[str, int, None]) -> int:
        if adapter is None:
            return -1
        if isinstance(adapter, (int, np.integer)):
            return int(adapter)
        if adapter not in self.adapters:
            raise InputError(f"unknown adapter '{adapter}'; the artifact has: "
                             f"{', '.join(self.adapters) or 'none'}")
        return self.adapters.index(adapter)

    @staticmethod
    def _convert(info: TensorInfo, value: Any):
        if isinstance(value, np.ndarray):
            # Already right: no copy (np.require is then the identity).
            return np.require(value, requirements=("C", "A"))
        if hasattr(value, "__dlpack__"):
            return value  # nanobind takes DLPack CPU tensors as views
        return np.require(np.asarray(value, dtype=info.numpy_dtype),
                          requirements=("C", "A"))

    def _wrap(self, arrays: list) -> Dict[str, np.ndarray]:
        out = {}
        for info, a in zip(self.outputs, arrays):
            if info.dtype == "bfloat16":
                a = _bf16_to_f32(a)
            out[info.name] = a
        return out

    def __call__(self, *args: Any, adapter: Union[str, int, None] = None,
                 **inputs: Any) -> Dict[str, np.ndarray]:
        """Runs the model; returns {output name: array}. `adapter` picks a
        switched LoRA adapter by name or index (None: the base model)."""
        if "adapter" in self._input_index and adapter is not None:
            inputs = dict(inputs, adapter=adapter)
            adapter = None
        return self._wrap(self._model.run(self._arrays(args, inputs, adapter)))

    def run(self, inputs: Mapping[str, Any], *,
            adapter: Union[str, int, None] = None) -> Dict[str, np.ndarray]:
        """Like calling the artifact, with the inputs in a mapping (names
        that are not Python identifiers)."""
        return self._wrap(self._model.run(self._arrays((), inputs, adapter)))

    def run_device(self, inputs: Mapping[str, Any], *,
                   stream: Optional[int] = None,
                   out: Optional[Mapping[str, Any]] = None,
                   graph: bool = False) -> Dict[str, Any]:
        """Runs a CUDA artifact (target "cuda") on tensors already in GPU
        memory, without host transfers (qopt_cuda_model_run): `inputs` maps
        names to CUDA tensors of any DLPack library (torch, cupy, jax),
        C-contiguous, of the inputs' dtypes (switched adapters: give
        `qopt_adapter` as a CUDA int64 tensor). The call's work starts after
        the work queued on `stream` (a cudaStream_t as an int; default:
        torch's current stream when the inputs are torch tensors, else the
        legacy default stream) and is done when it returns. Returns
        {output name: tensor over a new device buffer}: torch CUDA tensors
        when the inputs are torch tensors, otherwise DLPack-capable arrays
        (`__dlpack__`) for any library's from_dlpack. `out`: {output name:
        CUDA tensor of the output's dtype and shape} for every output, written
        in place and returned. `graph=True` (needs `out`): through a CUDA
        graph (qopt_cuda_model_run_graph): the first call with these tensors
        warms up, the second captures, later ones replay;
        `graph_note` tells which (or why a call was not captured)."""
        values: List[Any] = [None] * len(self.inputs)
        for name, v in inputs.items():
            i = self._input_index.get(name)
            if i is None:
                raise InputError(f"the model has no input '{name}'\nexpected "
                                 f"signature:\n{self.signature}")
            values[i] = v
        missing = [t.name for t, v in zip(self.inputs, values) if v is None]
        if missing:
            raise InputError(f"missing input(s) {', '.join(missing)}\nexpected "
                             f"signature:\n{self.signature}")
        torch = None
        if any(type(v).__module__.startswith("torch") for v in values):
            import torch  # noqa: F811 (only when the caller uses it)
            if stream is None and torch.cuda.is_available():
                stream = torch.cuda.current_stream().cuda_stream
        given = []
        if out is not None:
            names = [t.name for t in self.outputs]
            if sorted(out) != sorted(names):
                raise InputError(f"out= must name every output: {', '.join(names)}")
            given = [out[n] for n in names]
        if graph and not given:
            raise InputError("run_device: graph=True needs out= (a CUDA graph "
                             "writes into the output buffers it was captured "
                             "with)")
        outs = self._model.run_device(values, stream or 0, given, graph)
        if given:
            return dict(out)
        result = {}
        for info, a in zip(self.outputs, outs):
            result[info.name] = torch.from_dlpack(a) if torch is not None else a
        return result

    @property
    def graph_note(self) -> str:
        """What the last run_device(..., graph=True) did: "warm-up (...)",
        "captured", "replayed" or "not captured: <reason>"."""
        return self._model.graph_note

    def benchmark(self, inputs: Optional[Mapping[str, Any]] = None, *,
                  runs: int = 100, warmup: int = 5,
                  adapter: Union[str, int, None] = None) -> dict:
        """Times `runs` runs (after `warmup` untimed ones) without the GIL.

        Without inputs, random ones are made from the signature (static
        shapes only). Returns milliseconds: median, mean, min, max, the
        spread (stdev) and the raw per-run times."""
        if inputs is None:
            inputs = self.example_inputs()
        arrays = self._arrays((), inputs, adapter)
        times = [t * 1e3 for t in self._model.benchmark(arrays, runs, warmup)]
        return {
            "runs": len(times),
            "median_ms": statistics.median(times),
            "mean_ms": statistics.fmean(times),
            "min_ms": min(times),
            "max_ms": max(times),
            "stdev_ms": statistics.stdev(times) if len(times) > 1 else 0.0,
            "times_ms": times,
            "threads": _runtime.get_num_threads(),
        }

    def example_inputs(self, seed: int = 0) -> Dict[str, np.ndarray]:
        """Random inputs matching the signature (static shapes only)."""
        rng = np.random.default_rng(seed)
        out = {}
        for t in self.inputs:
            if t.name == "qopt_adapter":
                continue
            if any(not isinstance(d, int) for d in t.shape):
                raise InputError(f"input '{t.name}' has a dynamic shape "
                                 f"{t}: give the inputs explicitly")
            dt = t.numpy_dtype
            if dt.kind == "f":
                out[t.name] = rng.standard_normal(t.shape).astype(dt)
            elif dt.kind == "b":
                out[t.name] = rng.integers(0, 2, t.shape).astype(dt)
            else:
                out[t.name] = rng.integers(0, 4, t.shape).astype(dt)
        return out

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Copies the artifact's shared library to `path` (quant_opt.load
        and quant-run load it)."""
        path = os.fspath(path)
        tmp = path + ".tmp"
        shutil.copyfile(self.path, tmp)
        os.replace(tmp, path)


def load(path: Union[str, os.PathLike]) -> Artifact:
    """Loads an artifact that quant-compile or quant_opt.compile wrote."""
    return Artifact(os.fspath(path))

"""Type stubs of quant_opt (the compiler level is loaded lazily)."""

import os
from typing import (Any, Callable, Dict, Iterable, Mapping, Optional, Sequence,
                    Tuple, Union)

from . import ir as ir
from ._artifact import Artifact as Artifact, TensorInfo as TensorInfo, load as load
from ._errors import (CompileError as CompileError, Error as Error,
                      InputError as InputError, IRError as IRError,
                      LoadError as LoadError, RunError as RunError)

__version__: str

_PathLike = Union[str, os.PathLike]
_Samples = Union[_PathLike, Iterable[Mapping[str, Any]]]
_Adapters = Union[_PathLike, Sequence[Union[_PathLike, Tuple[_PathLike, float]]],
                  Mapping[str, float]]

def compile(model: Union[_PathLike, bytes, Any], *,
            output: Optional[_PathLike] = ...,
            target: str = ...,
            gpu_arch: Optional[str] = ...,
            quantize: Optional[str] = ...,
            calibration: Optional[_Samples] = ...,
            calibration_method: Optional[str] = ...,
            adapters: Optional[_Adapters] = ...,
            adapter_mode: Optional[str] = ...,
            eval_data: Optional[_Samples] = ...,
            report: Optional[bool] = ...,
            progress: Union[bool, Callable[[int, int], Optional[bool]]] = ...,
            **options: Any) -> Artifact: ...
def option_keys() -> Dict[str, str]: ...
def import_onnx(model: Union[_PathLike, bytes, Any],
                context: Optional[ir.Context] = ..., **options: Any) -> ir.Module: ...
def set_num_threads(num_threads: int) -> None: ...
def get_num_threads() -> int: ...
def kernel_isa() -> str: ...

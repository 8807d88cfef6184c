"""Writes seeds for quant-fuzz-tensor-files: the first byte picks the reader
(0: .npy, 1: ONNX TensorProto .pb), the rest is a valid file of several
dtypes and ranks, plus an empty and a truncated one. numpy and onnx."""

import io
import os
import sys

import numpy as np
from onnx import numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
arrays = {
    "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
    "i64": np.array([1, -2, 3], np.int64),
    "u8": np.array([[1, 2], [3, 255]], np.uint8),
    "bool": np.array([True, False]),
    "f16": np.array([0.5, -1.0], np.float16),
    "scalar": np.array(2.5, np.float32),
    "empty": np.zeros((0, 4), np.float32),
}
for name, arr in arrays.items():
    buf = io.BytesIO()
    np.save(buf, arr)
    npy = buf.getvalue()
    pb = numpy_helper.from_array(arr, name).SerializeToString()
    with open(os.path.join(out, f"npy_{name}"), "wb") as f:
        f.write(b"\x00" + npy)
    with open(os.path.join(out, f"pb_{name}"), "wb") as f:
        f.write(b"\x01" + pb)
    with open(os.path.join(out, f"npy_{name}_cut"), "wb") as f:
        f.write(b"\x00" + npy[: len(npy) // 2])
with open(os.path.join(out, "pb_empty_file"), "wb") as f:
    f.write(b"\x01")

"""Writes a few small valid ONNX models (binary) as the fuzzer's seeds."""

import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
F = TensorProto.FLOAT
models = {
    "matmul": ([helper.make_node("MatMul", ["x", "w"], ["y"])],
               [numpy_helper.from_array(np.ones((4, 3), np.float32), "w")],
               [4]),
    "gemm": ([helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)],
             [numpy_helper.from_array(np.ones((3, 4), np.float32), "w"),
              numpy_helper.from_array(np.ones((3,), np.float32), "b")], [4]),
    "qdq": ([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])],
            [numpy_helper.from_array(np.array(0.1, np.float32), "s"),
             numpy_helper.from_array(np.array(3, np.uint8), "z")], [4]),
    "eltwise": ([helper.make_node("Relu", ["x"], ["r"]),
                 helper.make_node("Add", ["r", "x"], ["y"])], [], [4]),
}
for name, (nodes, inits, dims) in models.items():
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", F, [2] + dims)],
        [helper.make_tensor_value_info("y", F, None)], inits)
    model = helper.make_model(graph, ir_version=8,
                              opset_imports=[helper.make_opsetid("", 17)])
    with open(os.path.join(out, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())

# The models of the importer's lit tests (split-file `//--- NAME.onnxtext`
# sections of test/**/*.test), parsed and serialized: the fuzzer starts
# from every op, attribute and error path those tests reach. Sections the
# Python parser cannot read (some test malformed text on purpose) and
# models larger than the fuzz run's -max_len are skipped.
import glob
import re

from onnx import parser

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
taken = 0
for test in sorted(glob.glob(os.path.join(root, "**", "*.test"),
                             recursive=True)):
    text = open(test, encoding="utf-8", errors="replace").read()
    sections = re.split(r"^//--- ", text, flags=re.M)[1:]
    for section in sections:
        header, _, body = section.partition("\n")
        if not header.strip().endswith(".onnxtext"):
            continue
        try:
            data = parser.parse_model(body).SerializeToString()
        except Exception:  # noqa: BLE001 - malformed on purpose
            continue
        if len(data) > 2048:
            continue
        stem = os.path.splitext(os.path.basename(test))[0]
        name = f"lit-{stem}-{header.strip()[:-len('.onnxtext')]}.onnx"
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        taken += 1
print(f"{len(models)} generated seeds, {taken} from the lit tests")

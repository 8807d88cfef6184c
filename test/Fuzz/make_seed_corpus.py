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

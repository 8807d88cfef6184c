#!/usr/bin/env python3
"""Rewrites the operator table in docs/ONNXOperators.md.

The `imports` column comes from the importer itself
(`quant-translate --list-onnx-ops`); `lowers` and `conformance` come from a
conformance run's JSON when one is given (see issue: conformance suite),
else they stay as they are measured: "—" for not measured.

    scripts/update_op_table.py [--build-dir build] [--conformance conformance.json]
"""

import argparse
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "ONNXOperators.md")
BEGIN, END = "<!-- op-table-begin -->", "<!-- op-table-end -->"

# The operator set the importer targets, by family (docs order).
FAMILIES = {
    "Linear": ["MatMul", "Gemm"],
    "Quantization": ["QuantizeLinear", "DequantizeLinear",
                     "DynamicQuantizeLinear", "MatMulInteger", "QLinearMatMul",
                     "ConvInteger", "QLinearConv"],
    "Element-wise": [
        "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Neg", "Abs",
        "Exp", "Log", "Sin", "Cos", "Tanh", "Sigmoid", "Relu", "LeakyRelu",
        "PRelu", "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish", "Erf",
        "Gelu", "Softplus", "Softsign", "Mish", "ThresholdedRelu", "Clip",
        "Min", "Max", "Mean", "Sum", "Where", "Equal", "Less", "LessOrEqual",
        "Greater", "GreaterOrEqual", "Not", "And", "Or", "Xor", "Cast",
        "CastLike", "Floor", "Ceil", "Round", "Sign", "IsNaN", "IsInf"],
    "Normalization and reductions": [
        "BatchNormalization", "LayerNormalization", "InstanceNormalization",
        "GroupNormalization", "RMSNormalization", "Softmax", "LogSoftmax",
        "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
        "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp", "ArgMax",
        "ArgMin", "CumSum", "TopK"],
    "Convolution and pooling": [
        "Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool",
        "GlobalMaxPool"],
    "Shape and data movement": [
        "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat",
        "Split", "Slice", "Gather", "GatherElements", "GatherND", "ScatterND",
        "Expand", "Tile", "Pad", "Shape", "Size", "ConstantOfShape", "Constant",
        "Identity", "Dropout", "Range", "Trilu", "Einsum", "Resize",
        "DepthToSpace", "SpaceToDepth", "OneHot", "NonZero"],
}


def supported(build_dir):
    out = subprocess.run([os.path.join(build_dir, "bin", "quant-translate"),
                          "--list-onnx-ops"], capture_output=True, text=True,
                         check=True).stdout
    ops = {}
    for line in out.splitlines():
        name, since = line.split(" ", 1)
        ops[name] = since
    return ops


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--conformance")
    args = ap.parse_args()
    ops = supported(args.build_dir)
    conf = {}
    if args.conformance:
        with open(args.conformance) as f:
            conf = json.load(f).get("operators", {})
    rows = ["| family | operator | imports (since opset) | lowers (CPU) | "
            "passes conformance |", "|---|---|---|---|---|"]
    listed = set()
    for family, names in FAMILIES.items():
        for name in names:
            listed.add(name)
            imp = f"yes ({ops[name]})" if name in ops else "no"
            c = conf.get(name, {})
            rows.append(f"| {family} | {name} | {imp} | {c.get('lowers', '—')} "
                        f"| {c.get('conformance', '—')} |")
    for name in sorted(set(ops) - listed):
        rows.append(f"| other | {name} | yes ({ops[name]}) | — | — |")
    with open(DOC) as f:
        text = f.read()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(DOC, "w") as f:
        f.write(head + BEGIN + "\n" + "\n".join(rows) + "\n" + END + tail)
    print(f"{DOC}: {sum(n in ops for n in listed)} of {len(listed)} listed "
          "operators import")


if __name__ == "__main__":
    main()

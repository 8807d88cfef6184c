#!/usr/bin/env python3
"""Rewrites the operator table in docs/ONNXOperators.md.

The `imports` column comes from the importer itself
(`quant-translate --list-onnx-ops`); `lowers`, `conformance tests` and
`status` come from a conformance run's JSON when one is given
(test/conformance/run_conformance.py; see docs/Conformance.md), else they
stay as the table has them ("—" for not measured).

From a conformance JSON, per operator, over the tests whose model uses it
(including nested subgraphs):
  lowers (CPU)       "yes" when some such test compiled (status pass or
                     fail), "no" when all were unsupported;
  conformance tests  passed/total, plus "(F frozen)" when F of the passes
                     froze parameter inputs (the test's "frozen_inputs",
                     see docs/Conformance.md);
  status             "passes" (all pass), "partial" (some pass), "fails"
                     (none passes), "not tested" (no test uses it).
A JSON with an "operators" map of {op: {"lowers": ..., "conformance": ...}}
(the older form) still fills `lowers` and `conformance tests`.

    scripts/update_op_table.py [--build-dir build] [--conformance conformance.json]
"""

import argparse
import json
import os
import re
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
    "Recurrent": ["LSTM", "GRU", "RNN"],
    "Control flow": ["If", "Loop", "Scan"],
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


HEADER = ["family", "operator", "imports (since opset)", "lowers (CPU)",
          "conformance tests", "status"]
MEASURED = HEADER[3:]
NONE = "—"


def current_rows(text):
    """{operator: {column: cell}} of the table now in the doc, so that a run
    without --conformance keeps the measured columns."""
    rows = {}
    if BEGIN not in text:
        return rows
    table = text.split(BEGIN, 1)[1].split(END, 1)[0]
    lines = [l for l in table.splitlines() if l.startswith("|")]
    if len(lines) < 2:
        return rows
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    # The older table had one "passes conformance" column.
    head = ["conformance tests" if h == "passes conformance" else h
            for h in head]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        row = dict(zip(head, cells))
        if "operator" in row:
            rows[row["operator"]] = row
    return rows


def from_conformance(data):
    """({operator: {column: cell}}, caption line)."""
    out = {}
    tests = data.get("tests")
    if tests is not None:
        for t in tests:
            for op in t.get("ops", []):
                o = out.setdefault(op, {"n": 0, "pass": 0, "compiled": 0,
                                        "frozen": 0})
                o["n"] += 1
                o["pass"] += t.get("status") == "pass"
                o["frozen"] += (t.get("status") == "pass" and
                                bool(t.get("frozen_inputs")))
                o["compiled"] += t.get("status") in ("pass", "fail")
        cells = {}
        for op, o in out.items():
            status = ("passes" if o["pass"] == o["n"] else
                      "partial" if o["pass"] else "fails")
            cells[op] = {"lowers (CPU)": "yes" if o["compiled"] else "no",
                         "conformance tests": f"{o['pass']}/{o['n']}" + (
                             f" ({o['frozen']} frozen)" if o["frozen"]
                             else ""),
                         "status": status}
        summ = data.get("summary", {}).get("overall", {})
        caption = ("Conformance columns: "
                   f"{summ.get('total', len(tests))} ONNX backend tests "
                   f"({', '.join(data.get('suites', []))}"
                   f"{' with the shadowed Debian copies' if data.get('all_sources') else ''}; "
                   f"{summ.get('pass', '?')} pass"
                   + (f", {summ['pass_with_frozen_inputs']} of them with "
                      "frozen inputs: `P/N (F frozen)` counts F passes that "
                      "froze parameters fed as graph inputs"
                      if summ.get("pass_with_frozen_inputs") else "")
                   + "), backend "
                   f"`{data.get('backend', '?')}`, {data.get('date', '?')}; "
                   "see docs/Conformance.md.")
        return cells, caption, True
    # Older form: {"operators": {op: {"lowers": .., "conformance": ..}}}.
    cells = {}
    for op, c in data.get("operators", {}).items():
        cells[op] = {"lowers (CPU)": c.get("lowers", NONE),
                     "conformance tests": c.get("conformance", NONE),
                     "status": c.get("status", NONE)}
    return cells, None, False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--conformance")
    args = ap.parse_args()
    ops = supported(args.build_dir)
    with open(DOC) as f:
        text = f.read()
    old = current_rows(text)
    caption, tested = None, False
    if args.conformance:
        with open(args.conformance) as f:
            conf, caption, tested = from_conformance(json.load(f))
    else:
        conf = {op: {k: row.get(k, NONE) for k in MEASURED}
                for op, row in old.items()}
        m = re.search(r"^Conformance columns:.*$",
                      text.split(BEGIN, 1)[-1].split(END, 1)[0], re.M)
        caption = m.group(0) if m else None

    def cells(name):
        c = conf.get(name)
        if c is None:
            # A conformance run that used no test with this op.
            return ([NONE, "0/0", "not tested"] if tested
                    else [NONE] * len(MEASURED))
        return [c.get(k, NONE) for k in MEASURED]

    rows = ["| " + " | ".join(HEADER) + " |",
            "|" + "---|" * len(HEADER)]
    listed = set()
    for family, names in FAMILIES.items():
        for name in names:
            listed.add(name)
            imp = f"yes ({ops[name]})" if name in ops else "no"
            rows.append("| " + " | ".join([family, name, imp, *cells(name)])
                        + " |")
    for name in sorted(set(ops) - listed):
        rows.append("| " + " | ".join(["other", name, f"yes ({ops[name]})",
                                       *cells(name)]) + " |")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    body = ([caption, ""] if caption else []) + rows
    with open(DOC, "w") as f:
        f.write(head + BEGIN + "\n" + "\n".join(body) + "\n" + END + tail)
    msg = (f"{DOC}: {sum(n in ops for n in listed)} of {len(listed)} listed "
           "operators import")
    if tested:
        passing = sum(cells(n)[2] == "passes" for n in listed)
        msg += f"; {passing} pass all their conformance tests"
    print(msg)


if __name__ == "__main__":
    main()

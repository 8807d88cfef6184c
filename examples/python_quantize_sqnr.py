#!/usr/bin/env python3
"""Quantize a model from Python and plot its per-layer SQNR.

A notebook-style walk through quant_opt (python-bindings/): build the bundled
example transformer block (make_examples.py), compile it to int8 (w8a8,
calibrated on in-memory numpy samples), compare it with the float model on
held-back samples, and draw the accuracy report's per-layer SQNR with
matplotlib (headless Agg backend) into a PNG.

    .venv/bin/python examples/python_quantize_sqnr.py [--model transformer]
        [--quantize w8a8] [--method minmax] [--out sqnr.png] [--calib 32]
"""

import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_examples  # noqa: E402

import quant_opt  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="transformer",
                    choices=["transformer", "mlp", "cnn"])
    ap.add_argument("--quantize", default="w8a8")
    ap.add_argument("--method", default="minmax",
                    choices=["minmax", "percentile", "entropy", "mse"])
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--eval", type=int, default=8)
    ap.add_argument("--out", default="sqnr.png")
    args = ap.parse_args(argv)

    # 1. A model (an onnx.ModelProto) and input samples, all in memory.
    model, info, make_inputs = make_examples.build_model(args.model)
    rng = np.random.default_rng(0)
    calibration = [make_inputs(rng) for _ in range(args.calib)]
    held_back = [make_inputs(rng) for _ in range(args.eval)]

    # 2. Compile: float and quantized. The report is computed on the
    #    calibration and held-back samples.
    float_art = quant_opt.compile(model)
    quant_art = quant_opt.compile(model, quantize=args.quantize,
                                  calibration=calibration,
                                  calibration_method=args.method,
                                  eval_data=held_back,
                                  report_latency_runs=20)
    print(quant_art)

    # 3. Our own check on the held-back samples: output SQNR vs float.
    sig = noise = 0.0
    for sample in held_back:
        ref = float_art(**sample)
        got = quant_art(**sample)
        for name in ref:
            r = ref[name].astype(np.float64)
            sig += float(np.sum(r * r))
            noise += float(np.sum((r - got[name]) ** 2))
    output_sqnr = 10 * np.log10(sig / noise) if noise > 0 else float("inf")
    print(f"output SQNR on {len(held_back)} held-back samples: {output_sqnr:.1f} dB")

    # 4. The per-layer SQNR from the accuracy report.
    report = quant_art.report
    layers = [l for l in report["layers"] if "sqnr_db_eval" in l or "sqnr_db_calibration" in l]
    names = [l["name"] for l in layers]
    key = "sqnr_db_eval" if all("sqnr_db_eval" in l for l in layers) else "sqnr_db_calibration"
    values = [l[key] for l in layers]
    for n, v, l in zip(names, values, layers):
        print(f"  {n:40s} {v:6.1f} dB  {l['quantized_as']}")
    wb = report["weight_bytes"]
    print(f"weights: {wb['float']} -> {wb['quantized']} bytes")
    if "latency_ms" in report:
        print("latency ms:", report["latency_ms"])

    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(names) + 2), 4))
    ax.bar(range(len(names)), values, color="tab:blue")
    ax.axhline(output_sqnr, color="tab:red", linestyle="--",
               label=f"model output ({output_sqnr:.1f} dB)")
    ax.set_ylim(0, 1.2 * max(values + [output_sqnr]))
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("SQNR (dB)")
    ax.set_title(f"{args.model}: {args.quantize}, {args.method} calibration "
                 f"({len(calibration)} samples)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return {"layers": dict(zip(names, values)), "output_sqnr_db": output_sqnr}


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Weight rounding side by side: round-to-nearest, GPTQ and GPTQ with bias
correction (quant-compile --weight-rounding, --bias-correction) against
onnxruntime's quantize_static, on the bundled examples (make_examples.py:
transformer, mlp, cnn) and the generated zoo (ptq_zoo.py: detector,
mobilenet, transformer_softmax).

    .venv/bin/python benchmarks/ptq/bench_gptq.py --build-dir build
        [--models transformer,mlp,cnn,detector,mobilenet,transformer_softmax]
        [--calib 32] [--eval 8] [--out build/benchmarks/ptq]

Schemes: w8a8 (mse calibration, uint8 asymmetric activations: our best
default, docs/Quantization/Calibration.md), w8a8-int8 (symmetric int8
activations, quant-compile's default), w8a8-actauto (--activation-type=auto:
per layer input int8 or uint8 by histogram error), w8 (weight-only int8 per
channel) and w4 (int4, groups of 32; convolutions int8); with --schemes
also w8/w8a8 per tensor (-tensor) and chosen per layer (-granauto:
--weight-granularity=auto), w4 uint4 (-uint4) and chosen per layer
(-symauto: --weight-asymmetric=auto). Each with
nearest, gptq, nearest+bias correction, gptq+bias correction and auto
(--weight-rounding=auto: per layer the lower output error of the two on
its calibration inputs), auto+bias correction.
onnxruntime: quantize_static QDQ, per-channel int8 weights, asymmetric
int8 activations, MinMax, MatMul/Gemm/Conv only (the layers we quantize,
as bench_ptq_accuracy.py). Output SQNR (dB) against the float model
(onnxruntime) on held-back samples, argmax agreement, and for the GPTQ
runs the per-layer weight SQNR on the calibration inputs (the report's
weight_rounding: nearest vs gptq). Writes OUT/bench_gptq.json. Never
asserts.
"""

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile

import onnxruntime as ort
from onnxruntime.quantization import (CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "examples"))
import bench_calibration as bc  # noqa: E402
import ptq_zoo  # noqa: E402

BUNDLED = ("transformer", "mlp", "cnn")
ROUNDINGS = {"nearest": [], "gptq": ["--weight-rounding=gptq"],
             "nearest+bc": ["--bias-correction"],
             "gptq+bc": ["--weight-rounding=gptq", "--bias-correction"],
             "auto": ["--weight-rounding=auto"],
             "auto+bc": ["--weight-rounding=auto", "--bias-correction"]}
SCHEMES = {"w8a8": ["--quantize=w8a8", "--calibration-method=mse",
                    "--activation-type=uint8"],
           "w8a8-int8": ["--quantize=w8a8", "--calibration-method=mse",
                         "--activation-type=int8"],
           "w8a8-actauto": ["--quantize=w8a8", "--calibration-method=mse",
                            "--activation-type=auto"],
           "w8": ["--quantize=w8"],
           "w4": ["--quantize=w4", "--group-size=32"],
           # Weight schemes chosen per layer by error (AutoSchemes.md)
           # against the fixed ones.
           "w8-tensor": ["--quantize=w8", "--weight-granularity=per-tensor"],
           "w8-granauto": ["--quantize=w8", "--weight-granularity=auto"],
           "w8a8-tensor": ["--quantize=w8a8", "--calibration-method=mse",
                           "--activation-type=uint8",
                           "--weight-granularity=per-tensor"],
           "w8a8-granauto": ["--quantize=w8a8", "--calibration-method=mse",
                             "--activation-type=uint8",
                             "--weight-granularity=auto"],
           "w4-uint4": ["--quantize=w4", "--group-size=32",
                        "--weight-asymmetric"],
           "w4-symauto": ["--quantize=w4", "--group-size=32",
                          "--weight-asymmetric=auto"]}
DEFAULT_SCHEMES = ("w8a8", "w8a8-int8", "w8a8-actauto", "w8", "w4")


def model_dir(name, data, args):
    if name in BUNDLED:
        subprocess.run([sys.executable, os.path.join(ROOT, "examples",
                                                     "make_examples.py"),
                        "--out", os.path.join(data, "bundled"), "--models",
                        name, "--calib", str(args.calib), "--eval",
                        str(args.eval)], check=True, capture_output=True)
        return os.path.join(data, "bundled", name)
    model, _ = ptq_zoo.write(os.path.join(data, "zoo"), name, args.calib,
                             args.eval)
    return os.path.dirname(model)


def bench_model(name, args, data, quant_compile, quant_run):
    mdir = model_dir(name, data, args)
    model = os.path.join(mdir, "model.onnx")
    calib_dir = os.path.join(mdir, "calibration")
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    out_name = sess.get_outputs()[0].name
    axis = 1 if name == "detector" else -1
    evals = bc.samples(os.path.join(mdir, "eval"))
    calib = bc.samples(calib_dir)
    refs = [sess.run(None, f)[0] for f in evals]
    row = {"model": name, "ours": {}, "onnxruntime": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for scheme in args.schemes.split(","):
            sflags = SCHEMES[scheme]
            for rounding in args.roundings.split(","):
                rflags = ROUNDINGS[rounding]
                key = f"{scheme}_{rounding}"
                so = os.path.join(tmp, key + ".so")
                report = os.path.join(tmp, key + ".json")
                cmd = [quant_compile, model, *sflags, *rflags,
                       "--calibration-data=" + calib_dir, "-o", so]
                chooses = any(f.endswith("=auto") for f in sflags)
                if rounding != "nearest" or chooses:
                    cmd += ["--report=" + report, "--report-latency-runs=0"]
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    row["ours"][key] = {"error": r.stderr.strip()[-300:]}
                    continue
                m = bc.metrics(refs, bc.run_ours(quant_run, so, evals,
                                                 out_name, tmp), axis)
                if rounding != "nearest" or chooses:
                    with open(report) as f:
                        layers = json.load(f).get("layers", [])
                    m["layers"] = [
                        {"name": lay["name"],
                         **lay.get("weight_rounding", {}),
                         **({"weight_scheme": lay["weight_scheme"]}
                            if "weight_scheme" in lay else {})}
                        for lay in layers
                        if "weight_rounding" in lay or "weight_scheme" in lay]
                row["ours"][key] = m
        qpath = os.path.join(tmp, "ort_minmax.onnx")
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_static(model, qpath, bc.Reader(calib),
                            quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QInt8,
                            weight_type=QuantType.QInt8,
                            op_types_to_quantize=["MatMul", "Gemm", "Conv"],
                            calibrate_method=CalibrationMethod.MinMax)
        qs = ort.InferenceSession(qpath, providers=["CPUExecutionProvider"])
        row["onnxruntime"]["w8a8_minmax"] = bc.metrics(
            refs, [qs.run(None, f)[0] for f in evals], axis)
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models",
                    default=",".join(BUNDLED + tuple(ptq_zoo.MODELS)))
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--eval", type=int, default=8)
    ap.add_argument("--out", default=None)
    ap.add_argument("--roundings", default=",".join(ROUNDINGS),
                    help="comma-separated subset of " + ",".join(ROUNDINGS))
    ap.add_argument("--schemes", default=",".join(DEFAULT_SCHEMES),
                    help="comma-separated subset of " + ",".join(SCHEMES))
    ap.add_argument("--json-name", default="bench_gptq.json")
    args = ap.parse_args(argv)
    out = args.out or os.path.join(args.build_dir, "benchmarks", "ptq")
    data = os.path.join(out, "gptq-data")
    os.makedirs(data, exist_ok=True)
    bindir = os.path.join(args.build_dir, "bin")
    results = []
    for name in args.models.split(","):
        row = bench_model(name, args, data, os.path.join(bindir,
                                                         "quant-compile"),
                          os.path.join(bindir, "quant-run"))
        results.append(row)
        for side in ("ours", "onnxruntime"):
            for key, m in row[side].items():
                if "error" in m:
                    print(f"{name:20s} {key:18s} ERROR {m['error']}")
                    continue
                s = m["sqnr_db"]
                print(f"{name:20s} {side:11s} {key:18s} SQNR "
                      f"{s if s is None else round(s, 2)!s:>7} dB  argmax "
                      f"{100 * m['argmax_agreement']:5.1f}%", flush=True)
    path = os.path.join(out, args.json_name)
    with open(path, "w") as f:
        json.dump({"calibration_samples": args.calib,
                   "eval_samples": args.eval, "results": results}, f,
                  indent=2)
        f.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The bundled demo: generate the MLP example, compile it with quant-opt's
qopt-cpu-pipeline, run it with mlir-runner, and compare both outputs (float
and W8A8 quantize/dequantize) with the independent numpy reference.

    python3 examples/run_mlp_int8.py --build-dir build [--seed N]

Exits non-zero when our outputs differ from numpy beyond float tolerance.
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlp_int8  # noqa: E402


def llvm_prefix():
    out = subprocess.run(["llvm-config-22", "--prefix"], capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def lower_and_run(mlir_text, work_dir, quant_opt, pre_passes=(),
                  entry="main"):
    """Lowers `mlir_text` to the LLVM dialect with qopt-cpu-pipeline (after
    the quant-opt flags in `pre_passes`), runs `entry` with mlir-runner and
    returns what it printed."""
    prefix = llvm_prefix()
    src = os.path.join(work_dir, "model.mlir")
    lowered = os.path.join(work_dir, "model.llvm.mlir")
    with open(src, "w") as f:
        f.write(mlir_text)
    subprocess.run([quant_opt, src, *pre_passes, "--qopt-cpu-pipeline", "-o",
                    lowered], check=True)
    libs = ",".join(os.path.join(prefix, "lib", name) for name in
                    ("libmlir_runner_utils.so", "libmlir_c_runner_utils.so"))
    run = subprocess.run(
        [os.path.join(prefix, "bin", "mlir-runner"), lowered, "-e", entry,
         "-entry-point-result=void", f"-shared-libs={libs}"],
        capture_output=True, text=True, check=True)
    return run.stdout


def compile_and_run(mlir_text, work_dir, quant_opt, pre_passes=()):
    """Runs @main of `mlir_text` (see lower_and_run); returns the tensors it
    printed."""
    out = lower_and_run(mlir_text, work_dir, quant_opt, pre_passes)
    return mlp_int8.parse_printed_memrefs(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    work = os.path.join(args.build_dir, "examples")
    os.makedirs(work, exist_ok=True)
    quant_opt = os.path.join(args.build_dir, "bin", "quant-opt")
    mlir, ref = mlp_int8.build(seed=args.seed)

    start = time.perf_counter()
    outputs = compile_and_run(mlir, work, quant_opt)
    elapsed = time.perf_counter() - start
    if len(outputs) != 2:
        print(f"error: expected 2 printed outputs, got {len(outputs)}",
              file=sys.stderr)
        return 1
    y_float, y_quant = outputs

    err_float = float(np.max(np.abs(y_float - ref["float"])))
    err_quant = float(np.max(np.abs(y_quant - ref["w8a8"])))
    print("quant-opt demo: 2-layer MLP (16 -> 32 -> 8, batch 4), "
          "float vs W8A8 (int8 per-channel weights, uint8 activations)")
    print(f"  compiled with qopt-cpu-pipeline and run in {elapsed:.2f} s "
          f"(lowered IR: {os.path.join(work, 'model.llvm.mlir')})")
    row = lambda t: ", ".join(f"{v:+.5f}" for v in t[0, :4])  # noqa: E731
    print(f"  float output [0,:4]: {row(y_float)}")
    print(f"  W8A8 output  [0,:4]: {row(y_quant)}")
    print(f"  max |ours - numpy|: float {err_float:.2e}, W8A8 {err_quant:.2e}")
    print(f"  W8A8 vs float: SQNR {mlp_int8.sqnr_db(y_float, y_quant):.1f} dB, "
          f"max abs error {float(np.max(np.abs(y_float - y_quant))):.4f}")
    # printMemrefF32 prints 6 significant digits.
    ok = np.allclose(y_float, ref["float"], rtol=1e-4, atol=1e-5) and \
        np.allclose(y_quant, ref["w8a8"], rtol=1e-4, atol=1e-5)
    print("  result: " + ("matches numpy" if ok else "MISMATCH with numpy"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

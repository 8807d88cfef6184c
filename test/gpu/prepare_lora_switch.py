#!/usr/bin/env python3
"""Prepares build-lora-gpu/ for test/gpu/check_lora_switch.sh on the GPU
machine: the bundled transformer block with two PEFT adapters, compiled
for NVPTX switched (--adapter-mode=switch) and merged, two samples, and the
CPU switched artifact's outputs for each adapter and the base as
references.

    .venv/bin/python test/gpu/prepare_lora_switch.py --build-dir build
    # then, with the device tool: carry build-lora-gpu,
    # OUT=$OUT bash test/gpu/check_lora_switch.sh
"""
import argparse
import os
import shutil
import subprocess
import sys

import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, os.path.join(ROOT, "test", "python"))
import make_examples  # noqa: E402
from test_lora import MODULES, write_adapter  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    args = ap.parse_args()
    bindir = os.path.join(args.build_dir, "bin")
    out = os.path.join(ROOT, "build-lora-gpu")
    shutil.rmtree(out, ignore_errors=True)
    work = os.path.join(out, "work")
    make_examples.write_model(work, "transformer", calib=1, eval_=2)
    onnx_path = os.path.join(work, "transformer", "model.onnx")
    model = onnx.load(onnx_path)
    sql, chat = os.path.join(work, "sql"), os.path.join(work, "chat")
    write_adapter(sql, model, list(MODULES), r=4, alpha=8, seed=1)
    write_adapter(chat, model, ["layers.0.attn.q_proj"], r=2, alpha=2, seed=2)
    qc = os.path.join(bindir, "quant-compile")
    switch = ["--adapter-mode=switch", f"--adapter={sql}",
              f"--adapter={chat}:0.5"]
    gpu = ["--target=nvptx", "--gpu-arch=sm_90"]
    subprocess.run([qc, onnx_path, *gpu, *switch, "-o",
                    os.path.join(out, "switch.gpu.so")], check=True)
    subprocess.run([qc, onnx_path, *gpu, f"--adapter={sql}", "-o",
                    os.path.join(out, "merged_sql.gpu.so")], check=True)
    cpu = os.path.join(work, "switch.cpu.so")
    subprocess.run([qc, onnx_path, *switch, "-o", cpu], check=True)
    for s in ("sample_000", "sample_001"):
        x = os.path.join(out, f"x_{s}.npy")
        shutil.copy(os.path.join(work, "transformer", "eval", s,
                                 "hidden_states.npy"), x)
        for a in ("none", "sql", "chat"):
            cmd = [os.path.join(bindir, "quant-run"), cpu, "--input",
                   f"hidden_states={x}", "--output-dir",
                   os.path.join(out, "ref", f"{s}_{a}")]
            if a != "none":
                cmd += ["--adapter", a]
            subprocess.run(cmd, check=True, capture_output=True)
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())

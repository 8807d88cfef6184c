"""examples/qat_example.py end to end: a few steps of real QAT with PyTorch
(straight-through estimator) on the --prepare-qat graph, then the trained
graph compiled and checked against onnxruntime. Skipped without torch (not
needed by CI)."""

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))


def initializers(path):
    return {t.name: numpy_helper.to_array(t)
            for t in onnx.load(str(path)).graph.initializer}


def test_qat_example_trains_and_compiles(build_dir, tmp_path):
    pytest.importorskip("torch")
    r = subprocess.run([sys.executable,
                        os.path.join(ROOT, "examples", "qat_example.py"),
                        "--build-dir", build_dir, "--steps", "5",
                        "--out", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS" in r.stdout
    # Training really changed the float weights and the scales (the
    # parameters a trainer learns), and nothing else.
    before = initializers(tmp_path / "mlp" / "model.qat.onnx")
    after = initializers(tmp_path / "mlp" / "model.trained.onnx")
    assert before.keys() == after.keys()
    changed = {k for k in before if not np.array_equal(before[k], after[k])}
    scales = {k for k in before if k.endswith("_scale")}
    assert changed & scales, changed
    assert changed - scales, changed
    assert all(before[k].dtype == np.float32 for k in changed)
    # The loss the example prints went down over its steps.
    losses = [float(line.split()[-1]) for line in r.stdout.splitlines()
              if "distillation MSE" in line]
    assert len(losses) >= 2 and losses[-1] < losses[0], r.stdout

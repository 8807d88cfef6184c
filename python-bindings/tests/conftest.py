"""Fixtures of the quant_opt tests: small ONNX models made with onnx.helper,
compiled with the project's quant-compile (QOPT_BUILD_DIR, default
../../build) where a test checks the runtime level on its own."""

import os
import sys

import onnx
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qopt_testutil import mlp_model, quant_compile  # noqa: E402


@pytest.fixture(scope="session")
def build_dir():
    path = os.environ.get("QOPT_BUILD_DIR", os.path.join(ROOT, "build"))
    if not os.path.exists(os.path.join(path, "bin", "quant-compile")):
        pytest.fail(f"quant-compile is not built in {path} (set QOPT_BUILD_DIR)")
    return path


@pytest.fixture(scope="session")
def mlp(tmp_path_factory, build_dir):
    """(onnx model, path of its artifact compiled by quant-compile)."""
    root = tmp_path_factory.mktemp("mlp")
    model = mlp_model()
    onnx.save(model, root / "mlp.onnx")
    return model, quant_compile(build_dir, root / "mlp.onnx", root / "mlp.so")

"""Shared fixtures of the pytest suite: where the built tools are."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))


@pytest.fixture(scope="session")
def build_dir():
    path = os.environ.get("QOPT_BUILD_DIR", os.path.join(ROOT, "build"))
    if not os.path.exists(os.path.join(path, "bin", "quant-opt")):
        pytest.fail(f"quant-opt is not built in {path} (set QOPT_BUILD_DIR)")
    return path


@pytest.fixture(scope="session")
def quant_opt(build_dir):
    return os.path.join(build_dir, "bin", "quant-opt")

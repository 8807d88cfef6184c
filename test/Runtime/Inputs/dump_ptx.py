"""Writes the GEMV kernels' PTX embedded in the runtime for one architecture:
dump_ptx.py <libqopt_runtime.so> <sm_XX> <out.ptx> [table], table gemv
(default), sparse24 or wgmma (qopt_cuda_<table>_ptx)."""

import ctypes
import sys

lib = ctypes.CDLL(sys.argv[1])
fn = getattr(lib, f"qopt_cuda_{sys.argv[4] if len(sys.argv) > 4 else 'gemv'}_ptx")
fn.restype = ctypes.c_char_p
fn.argtypes = [ctypes.c_char_p]
ptx = fn(sys.argv[2].encode())
if not ptx:
    sys.exit(f"no embedded PTX for {sys.argv[2]}")
with open(sys.argv[3], "wb") as f:
    f.write(ptx)

"""Writes the GEMV kernels' PTX embedded in the runtime for one architecture:
dump_ptx.py <libqopt_runtime.so> <sm_XX> <out.ptx>."""

import ctypes
import sys

lib = ctypes.CDLL(sys.argv[1])
lib.qopt_cuda_gemv_ptx.restype = ctypes.c_char_p
lib.qopt_cuda_gemv_ptx.argtypes = [ctypes.c_char_p]
ptx = lib.qopt_cuda_gemv_ptx(sys.argv[2].encode())
if not ptx:
    sys.exit(f"no embedded PTX for {sys.argv[2]}")
with open(sys.argv[3], "wb") as f:
    f.write(ptx)

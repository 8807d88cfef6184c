#!/usr/bin/env python3
"""On a GPU machine: qopt_cuda_model_run_graph (CUDA graphs of device-
resident calls) on every NVPTX artifact of prepare_models.py's folder (one
per model and scheme): the same device input buffer is refilled with new
values before each of 4 graph calls (warm-up, capture, replay, replay) and
each output is compared with qopt_model_run's on the same values from host
memory; the notes must read warm-up, captured, replayed, replayed (or name
why not captured). Writes JSON.

    python3 test/gpu/check_graph_api.py --dir CASES --runtime libqopt_runtime.so --out graph_api.json
"""

import argparse
import ctypes
import json
import os
import sys

import numpy as np

F32 = 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--runtime", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    lib = ctypes.CDLL(args.runtime, mode=ctypes.RTLD_GLOBAL)
    vp, i = ctypes.c_void_p, ctypes.c_int
    pp = ctypes.POINTER(vp)
    for fn in ("qopt_cuda_model_run_graph",):
        getattr(lib, fn).argtypes = [vp, pp, i, pp, i, vp]
        getattr(lib, fn).restype = i
    lib.qopt_cuda_graph_note.restype = ctypes.c_char_p
    lib.qopt_last_error.restype = ctypes.c_char_p
    lib.qopt_model_load.argtypes = [ctypes.c_char_p, pp]
    lib.qopt_model_free.argtypes = [vp]
    lib.qopt_model_run.argtypes = [vp, pp, i, pp, i]
    lib.qopt_tensor_create_view.argtypes = [
        i, i, ctypes.POINTER(ctypes.c_int64), vp, vp, vp, pp]
    lib.qopt_tensor_free.argtypes = [vp]
    lib.qopt_tensor_data.argtypes = [vp]
    lib.qopt_tensor_data.restype = vp
    lib.qopt_tensor_rank.argtypes = [vp]
    lib.qopt_tensor_dims.argtypes = [vp]
    lib.qopt_tensor_dims.restype = ctypes.POINTER(ctypes.c_int64)
    lib.qopt_tensor_byte_size.argtypes = [vp]
    lib.qopt_tensor_byte_size.restype = ctypes.c_size_t
    lib.qopt_cuda_malloc.argtypes = [ctypes.c_size_t, pp]
    lib.qopt_cuda_free.argtypes = [vp]
    lib.qopt_cuda_copy_to_device.argtypes = [vp, vp, ctypes.c_size_t]
    lib.qopt_cuda_copy_to_host.argtypes = [vp, vp, ctypes.c_size_t]

    def view(ptr, shape):
        dims = (ctypes.c_int64 * len(shape))(*shape)
        t = vp()
        assert lib.qopt_tensor_create_view(F32, len(shape), dims, ptr, None, None,
                                           ctypes.byref(t)) == 0, lib.qopt_last_error()
        return t

    ap_only = os.environ.get("CHECK_GRAPH_ONLY")  # one artifact (subprocess mode)
    cases = json.load(open(os.path.join(args.dir, "cases.json")))
    if ap_only:
        cases = [c for c in cases if c["artifact"] == ap_only]
    seen, rows = set(), []
    for c in cases:
        if c["artifact"] in seen:
            continue
        seen.add(c["artifact"])
        (name, rel), = c["inputs"].items()
        x0 = np.load(os.path.join(args.dir, rel)).astype(np.float32)
        row = {"artifact": c["artifact"], "model": c["model"], "scheme": c["scheme"]}
        model = vp()
        if lib.qopt_model_load(os.path.join(args.dir, c["artifact"]).encode(),
                               ctypes.byref(model)) != 0:
            row.update(ok=False, error=lib.qopt_last_error().decode())
            rows.append(row)
            continue
        print("  loaded", c["artifact"], file=sys.stderr, flush=True)
        rng = np.random.default_rng(0)
        xs = [x0] + [(x0 + 0.5 * rng.standard_normal(x0.shape)).astype(np.float32)
                     for _ in range(3)]
        refs = []
        for x in xs:
            t = view(x.ctypes.data, x.shape)
            out = (vp * 1)()
            assert lib.qopt_model_run(model, (vp * 1)(t), 1, out, 1) == 0, \
                lib.qopt_last_error()
            rank = lib.qopt_tensor_rank(out[0])
            shape = [lib.qopt_tensor_dims(out[0])[k] for k in range(rank)]
            refs.append(np.ctypeslib.as_array(ctypes.cast(
                lib.qopt_tensor_data(out[0]), ctypes.POINTER(ctypes.c_float)),
                shape=shape).copy())
            lib.qopt_tensor_free(out[0])
            lib.qopt_tensor_free(t)
        print("  host references", file=sys.stderr, flush=True)
        dx, dy = vp(), vp()
        assert lib.qopt_cuda_malloc(x0.nbytes, ctypes.byref(dx)) == 0
        assert lib.qopt_cuda_malloc(refs[0].nbytes, ctypes.byref(dy)) == 0
        ins = (vp * 1)(view(dx, x0.shape))
        outs = (vp * 1)(view(dy, refs[0].shape))
        nan = np.full(refs[0].shape, np.nan, np.float32)
        got = np.empty_like(refs[0])
        notes, diffs, ok = [], [], True
        for x, ref in zip(xs, refs):
            lib.qopt_cuda_copy_to_device(dx, x.ctypes.data, x.nbytes)
            lib.qopt_cuda_copy_to_device(dy, nan.ctypes.data, nan.nbytes)
            if lib.qopt_cuda_model_run_graph(model, ins, 1, outs, 1, None) != 0:
                row["error"] = lib.qopt_last_error().decode()
                ok = False
                break
            notes.append(lib.qopt_cuda_graph_note().decode())
            print("  graph call:", notes[-1], file=sys.stderr, flush=True)
            lib.qopt_cuda_copy_to_host(got.ctypes.data, dy, got.nbytes)
            scale = max(1.0, float(np.abs(ref).max()))
            d = float(np.abs(got.astype(np.float64) - ref).max()) / scale
            diffs.append(d if np.isfinite(d) else float("inf"))
        row.update(notes=notes, max_rel_diff_vs_host_call=diffs)
        row["replayed"] = notes[2:] == ["replayed", "replayed"]
        row["ok"] = ok and all(d <= 1e-5 for d in diffs)
        rows.append(row)
        print(row["model"], row["scheme"], row["ok"], notes[-1] if notes else "",
              max(diffs) if diffs else None, flush=True)
        for t in (ins[0], outs[0]):
            lib.qopt_tensor_free(t)
        lib.qopt_model_free(model)
        lib.qopt_cuda_free(dx)
        lib.qopt_cuda_free(dy)
        print("  freed", flush=True)
    failed = sum(not r["ok"] for r in rows)
    replayed = sum(r.get("replayed", False) for r in rows)
    json.dump({"artifacts": len(rows), "failed": failed, "replayed": replayed,
               "results": rows}, open(args.out, "w"), indent=1)
    print(f"{len(rows) - failed}/{len(rows)} artifacts: graph calls match the host "
          f"calls on 4 inputs; {replayed} replayed a graph")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

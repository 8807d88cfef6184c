"""End-to-end numerics of qopt ops compiled by qopt-cpu-pipeline, checked
against numpy implementations of the ONNX formulas (an independent
reference): random inputs, random scales and zero points, every storage
type, per-tensor and per-axis, including exact .5 ties and saturation."""

import numpy as np
import pytest

import mlp_int8
from run_mlp_int8 import compile_and_run

STORAGE = {"i8": (-128, 127), "u8": (0, 255), "i4": (-8, 7), "u4": (0, 15)}


def mlir_floats(values):
    return ", ".join(repr(float(np.float32(v))) for v in np.ravel(values))


def dense(arr):
    rows = ", ".join("[" + mlir_floats(r) + "]" for r in arr)
    return f"dense<[{rows}]>"


def quant_type(shape, storage, scales, zps, axis):
    if axis is None:
        return f"tensor<{shape}x!quant.uniform<{storage}:f32, {float(scales[0])!r}:{zps[0]}>>"
    body = ", ".join(f"{float(s)!r}:{z}" for s, z in zip(scales, zps))
    return f"tensor<{shape}x!quant.uniform<{storage}:f32:{axis}, {{{body}}}>>"


def qdq_module(x, cases):
    """@main prints dequantize(quantize(x)) and fake_quant(x) per case."""
    rows, cols = x.shape
    shape, t = f"{rows}x{cols}", f"tensor<{rows}x{cols}xf32>"
    body = [f"  %x = arith.constant {dense(x)} : {t}"]
    for i, (storage, scales, zps, axis) in enumerate(cases):
        qt = quant_type(shape, storage, scales, zps, axis)
        lo, hi = STORAGE[storage]
        axis_attr = "" if axis is None else f" axis {axis}"
        body += [
            f"  %q{i} = qopt.quantize %x : {t} -> {qt}",
            f"  %d{i} = qopt.dequantize %q{i} : {qt} -> {t}",
            f"  %f{i} = qopt.fake_quant %x scale [{mlir_floats(scales)}] "
            f"zero_point [{', '.join(map(str, zps))}] range [{lo}, {hi}]{axis_attr} : {t}",
            f"  call @print(%d{i}) : ({t}) -> ()",
            f"  call @print(%f{i}) : ({t}) -> ()",
        ]
    return (
        "func.func private @printMemrefF32(tensor<*xf32>)\n"
        f"func.func @print(%t: {t}) {{\n"
        f"  %u = tensor.cast %t : {t} to tensor<*xf32>\n"
        "  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()\n  return\n}\n"
        "func.func @main() {\n" + "\n".join(body) + "\n  return\n}\n")


def numpy_qdq(x, storage, scales, zps, axis):
    lo, hi = STORAGE[storage]
    s = np.asarray(scales, np.float32)
    z = np.asarray(zps, np.float32)
    if axis is not None:
        shape = [1, 1]
        shape[axis] = -1
        s, z = s.reshape(shape), z.reshape(shape)
    q = np.clip(np.round(x / s) + z, lo, hi)  # np.round: half to even
    return ((q - z) * s).astype(np.float32)


@pytest.mark.parametrize("expand", [False, True],
                         ids=["fake_quant", "expanded-to-qdq"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quantize_dequantize_fake_quant_match_numpy(tmp_path, quant_opt, seed,
                                                    expand):
    rng = np.random.default_rng(seed)
    rows, cols = 3, 6
    x = rng.normal(0, 4, (rows, cols)).astype(np.float32)
    # Exact ties on a power-of-two grid and values far outside every range.
    x[0, :4] = [0.25, 0.75, -0.25, -1.25]
    x[1, 0], x[1, 1] = 1e4, -1e4
    cases = []
    for storage, (lo, hi) in STORAGE.items():
        cases.append((storage, [0.5], [int(rng.integers(lo, hi + 1))], None))
        for axis in (0, 1):
            n = x.shape[axis]
            scales = rng.uniform(0.01, 1.0, n).astype(np.float32)
            zps = rng.integers(lo, hi + 1, n).tolist()
            cases.append((storage, scales, zps, axis))
    # With `expand`, qopt-expand-fake-quant first rewrites every fake_quant
    # to quantize + dequantize: the values must not change.
    pre = ["--qopt-expand-fake-quant"] if expand else []
    outputs = compile_and_run(qdq_module(x, cases), str(tmp_path), quant_opt,
                              pre)
    assert len(outputs) == 2 * len(cases)
    for i, case in enumerate(cases):
        expected = numpy_qdq(x, *case)
        # printMemrefF32 prints 6 significant digits.
        np.testing.assert_allclose(outputs[2 * i], expected, rtol=2e-5,
                                   atol=1e-6, err_msg=f"quantize {case}")
        np.testing.assert_allclose(outputs[2 * i + 1], expected, rtol=2e-5,
                                   atol=1e-6, err_msg=f"fake_quant {case}")


@pytest.mark.parametrize("seed,batch,din,dhid,dout",
                         [(0, 4, 16, 32, 8), (7, 1, 33, 17, 5), (3, 9, 8, 64, 3)])
def test_mlp_float_and_w8a8_match_numpy(tmp_path, quant_opt, seed, batch, din,
                                        dhid, dout):
    mlir, ref = mlp_int8.build(seed, batch, din, dhid, dout)
    y_float, y_quant = compile_and_run(mlir, str(tmp_path), quant_opt)
    np.testing.assert_allclose(y_float, ref["float"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(y_quant, ref["w8a8"], rtol=1e-4, atol=1e-5)
    # W8A8 is close to float on this well-conditioned MLP.
    assert mlp_int8.sqnr_db(ref["float"], y_quant) > 25.0

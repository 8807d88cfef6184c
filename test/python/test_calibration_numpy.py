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
    rc, lo, hi = h.range("percentile", True, p)
    assert rc == 0
    assert abs(hi - np.percentile(np.abs(x), p)) <= width and lo == -hi
    rc, lo, hi = h.range("percentile", False, p)
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
    rc, lo, hi = h.range("entropy")
    assert hi == pytest.approx(min(want, np.abs(np.concatenate(batches)).max()),
                               rel=1e-6)
    # It clips the outliers: well below the max, above the Gaussian bulk.
    assert 2.5 < hi < 0.5 * np.abs(np.concatenate(batches)).max()


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

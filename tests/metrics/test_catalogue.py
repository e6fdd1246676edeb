"""The metric catalogue: oracles (official LPIPS/DISTS values, MATLAB values), agreement with the wrapped libraries on real
images, direction metadata checked by step-by-step degradation, unavailable metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iqa_bench.errors import MetricUnavailableError
from iqa_bench.io import read_image, to_float
from iqa_bench.metrics import METRICS
from iqa_bench.metrics.unavailable import UNAVAILABLE
from iqa_bench.weights import WeightsStore


@pytest.fixture(scope="module")
def store(shared):
    return WeightsStore(paths=[shared / "weights"], cache_dir=shared / "no-cache", allow_download=False)


def create(name, store):
    return METRICS.create(name, store=store) if METRICS.get(name).meta.weights else METRICS.create(name)


# Official LPIPS/DISTS values on the official example images, tolerance 1e-4.
@pytest.mark.parametrize(
    "metric, dist, ref, expected",
    [
        ("lpips", "lpips_ex_p0.png", "lpips_ex_ref.png", 0.7219),
        ("lpips", "lpips_ex_p1.png", "lpips_ex_ref.png", 0.1376),
        ("lpips_vgg", "lpips_ex_p0.png", "lpips_ex_ref.png", 0.5686),
        ("lpips_vgg", "lpips_ex_p1.png", "lpips_ex_ref.png", 0.4217),
        ("dists", "dists_r1.png", "dists_r0.png", 0.3347),  # 256x256: the README's resize is a no-op
    ],
)
def test_perceptual_oracles(store, img, metric, dist, ref, expected):
    assert create(metric, store)(img(dist), img(ref)) == pytest.approx(expected, abs=1e-4)


# MATLAB values of the reference implementations, as piq's test-suite records them.
@pytest.mark.parametrize(
    "metric, dist, ref, expected, tol",
    [
        ("fsim", "goldhill_jpeg.gif", "goldhill.gif", 0.89691, 1e-5),
        ("fsim", "i01_01_5.bmp", "I01.BMP", 0.93674, 1e-4),
        ("fsimc", "i01_01_5.bmp", "I01.BMP", 0.92587, 1e-4),
        ("haarpsi", "I01.BMP", "i01_01_5.bmp", 0.71706527, 1e-4),
        ("dss", "goldhill.gif", "goldhill_jpeg.gif", 0.45217181, 1e-3),
    ],
)
def test_matlab_oracles(img, metric, dist, ref, expected, tol):
    assert METRICS.create(metric)(img(dist), img(ref)) == pytest.approx(expected, abs=tol)


@pytest.mark.parametrize("name, expected", [("goldhill.gif", 8.425548), ("I01.BMP", 10.259409)])
def test_brisque_matlab_oracle(store, img, name, expected):
    assert create("brisque", store)(img(name)) == pytest.approx(expected, rel=1e-4)


def test_lpips_equals_official_forward(store, img):
    """Our feature caching path gives what lpips.LPIPS.forward gives, for every trunk."""
    import lpips

    a, b = img("i01_01_5.bmp"), img("I01.BMP")
    ta = torch.from_numpy(a.transpose(2, 0, 1)).float()[None]
    tb = torch.from_numpy(b.transpose(2, 0, 1)).float()[None]
    for name, net in (("lpips", "alex"), ("lpips_vgg", "vgg"), ("lpips_squeeze", "squeeze")):
        ours = create(name, store)
        official = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
        official.net = ours.model.net  # same trunk tensors, official forward
        with torch.no_grad():
            want = float(official(ta, tb, normalize=True))
        assert ours(a, b) == pytest.approx(want, abs=1e-6), name


@pytest.mark.parametrize("name", ["lpips", "dists"])  # the metrics on piq's conventions: test_piq_reimplementations.py
def test_reference_cache_equals_direct_call(store, img, name):
    """The engine's path (HR-side work once, reused for every model's output) gives the direct call's value."""
    from iqa_bench.metrics.base import ReferenceCached

    m = create(name, store)
    assert isinstance(m, ReferenceCached)
    hr = img("I01.BMP")[:192, :256]
    ref = m.reference(hr)
    for sr in (img("i01_01_5.bmp")[:192, :256], np.clip(hr + 0.05, 0, 1)):
        assert m.compare(sr, ref) == m(sr, hr)
    with pytest.raises(ValueError, match="must be equal"):
        m.compare(sr[:96], ref)


@pytest.mark.parametrize("name", ["lpips", "dists"])
def test_batched_outputs_equal_one_at_a_time(store, img, name, monkeypatch):
    """``compare_many``: the outputs of several models of one HR image in batched forward passes give
    each output's single-image value (float rounding apart: oneDNN picks kernels per batch size), also
    when the pixel budget splits them over several passes."""
    import iqa_bench.metrics.perceptual as perceptual
    from iqa_bench.metrics.base import BatchCompared

    m = create(name, store)
    assert isinstance(m, BatchCompared)
    hr = img("I01.BMP")[:192, :256]
    ref = m.reference(hr)
    srs = [img("i01_01_5.bmp")[:192, :256], np.clip(hr + 0.05, 0, 1), hr, np.clip(hr * 0.9, 0, 1)]
    one = [m.compare(sr, ref) for sr in srs]
    assert len(set(one)) == 4 and one[2] == pytest.approx(0.0, abs=1e-6)
    assert m.compare_many(srs, ref) == pytest.approx(one, abs=1e-6)
    monkeypatch.setattr(perceptual, "BATCH_PIXELS", 2 * 192 * 256)  # passes of 2, 2
    assert m.compare_many(srs, ref) == pytest.approx(one, abs=1e-6)
    with pytest.raises(ValueError, match="must be equal"):
        m.compare_many([srs[0], srs[1][:96]], ref)


def _available(kind):
    return [e.name for e in METRICS if e.meta.kind == kind and not e.meta.unavailable]


@pytest.fixture(scope="module")
def noisy_steps(shared):
    """Set5 butterfly (HR), then Gaussian noise of increasing strength (fixed seed)."""
    hr = to_float(read_image(shared / "data" / "Set5" / "HR" / "butterfly.png")[0])
    noise = np.random.default_rng(0).standard_normal(hr.shape)
    return hr, [np.clip(hr + s * noise, 0, 1) for s in (0.01, 0.04, 0.12)]


@pytest.mark.parametrize("name", _available("fr"))
def test_fr_direction_follows_metadata(store, noisy_steps, name):
    hr, steps = noisy_steps
    meta = METRICS.get(name).meta
    m = create(name, store)
    scores = [m(s, hr) for s in steps]
    worse = np.diff(scores) < 0 if meta.higher_is_better else np.diff(scores) > 0
    assert worse.all(), (name, scores)
    lo, hi = meta.value_range
    assert all(lo <= s <= hi for s in scores), (name, scores)


# Metrics whose value rises with noise whatever their direction (noise adds information): their
# direction is checked on blur in their own test (tests/metrics/test_classic.py).
DIRECTION_ON_BLUR = {"entropy"}


@pytest.mark.parametrize("name", [n for n in _available("nr") if n not in DIRECTION_ON_BLUR])
def test_nr_direction_follows_metadata(store, noisy_steps, name):
    _, steps = noisy_steps
    meta = METRICS.get(name).meta
    m = create(name, store)
    scores = [m(s) for s in steps]
    worse = np.diff(scores) < 0 if meta.higher_is_better else np.diff(scores) > 0
    assert worse.all(), (name, scores)


def test_grey_image_works_for_every_metric(store, img):
    """A single-channel image is accepted by every available metric (grey images are scored as they are, or expanded to 3 channels by the metric)."""
    g, gj = img("goldhill.gif"), img("goldhill_jpeg.gif")
    assert g.shape[2] == 1
    for name in _available("fr"):
        assert np.isfinite(create(name, store)(gj, g)), name
    for name in _available("nr"):
        assert np.isfinite(create(name, store)(gj)), name


@pytest.mark.parametrize("name", sorted(UNAVAILABLE))
def test_unavailable_metric_gives_clear_error(name):
    meta = METRICS.get(name).meta
    assert meta.unavailable and meta.weights
    with pytest.raises(MetricUnavailableError) as info:
        METRICS.create(name)
    assert meta.weights[0].file in info.value.hint and name in info.value.message


def test_small_image_gives_readable_error():
    from iqa_bench.errors import InputError

    x = np.full((64, 64, 3), 0.5)
    with pytest.raises(InputError, match="ms_ssim cannot score a 64x64 image"):
        METRICS.create("ms_ssim")(x, x)


def test_every_computable_metric_states_the_precision_it_computes_in():
    """MetricInfo.precision is stated for every built-in metric, and a piq wrapper's is the dtype it runs."""
    from iqa_bench.metrics import METRICS, create_metric

    missing = [e.name for e in METRICS if not e.meta.unavailable and not e.meta.precision]
    assert missing == []
    for name in ("ssim", "ms_ssim", "iw_ssim", "dss", "fsim"):
        meta = METRICS.get(name).meta
        fn = create_metric(name)._fn
        if hasattr(fn, "dtype"):
            assert str(fn.dtype) == f"torch.{meta.precision}", name
    assert METRICS.get("dss").meta.precision == "float64" and METRICS.get("iw_ssim").meta.precision == "float32"

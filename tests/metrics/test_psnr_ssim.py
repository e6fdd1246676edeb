"""PSNR/SSIM properties and a cross-check of SSIM against scikit-image's reference implementation."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from iqa_bench.io import to_float
from iqa_bench.metrics import METRICS
from iqa_bench.metrics.psnr import psnr, psnr_y
from iqa_bench.metrics.ssim import ssim, ssim_y
from tests.conftest import photo_like


@pytest.fixture
def pair():
    hr = to_float(photo_like(48, 64, seed=1))
    noise = np.random.default_rng(2).normal(0, 0.05, hr.shape)
    return np.clip(hr + noise, 0, 1), hr


def test_psnr_formula_and_inf(pair):
    sr, hr = pair
    assert psnr(sr, hr) == pytest.approx(10 * np.log10(1 / np.mean((sr - hr) ** 2)), abs=1e-12)
    assert psnr(hr, hr) == float("inf")
    assert psnr_y(hr, hr) == float("inf")


def test_psnr_known_value():
    hr = np.zeros((4, 4, 1))
    sr = np.full((4, 4, 1), 0.1)  # MSE 0.01 -> 20 dB
    assert psnr(sr, hr) == pytest.approx(20.0, abs=1e-12)


def test_ssim_matches_skimage_reference(pair):
    sr, hr = pair
    # skimage with Gaussian weights, sigma 1.5 (11x11 window), population covariance, data range 1,
    # averaged over the same valid region: an independent implementation of Wang et al.
    ref = np.mean(
        [
            structural_similarity(
                sr[..., c], hr[..., c], gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0
            )
            for c in range(3)
        ]
    )
    assert ssim(sr, hr) == pytest.approx(ref, abs=1e-10)


def test_ssim_identity_and_symmetry(pair):
    sr, hr = pair
    assert ssim(hr, hr) == pytest.approx(1.0, abs=1e-12)
    assert ssim(sr, hr) == pytest.approx(ssim(hr, sr), abs=1e-12)
    assert ssim_y(hr, hr) == pytest.approx(1.0, abs=1e-12)


def test_grey_image_scored_on_grey_values():
    hr = to_float(photo_like(32, 32, channels=1, seed=4))
    sr = np.clip(hr + 0.02, 0, 1)
    assert psnr_y(sr, hr) == psnr(sr, hr)
    assert ssim_y(sr, hr) == ssim(sr, hr)
    # expanding grey to RGB then taking BT.601 Y compresses the range by 219/255: PSNR rises
    rgb = lambda x: np.repeat(x, 3, axis=2)  # noqa: E731
    assert psnr_y(rgb(sr), rgb(hr)) == pytest.approx(psnr(sr, hr) - 20 * np.log10(219 / 255), abs=1e-9)


@pytest.mark.parametrize("name", ["psnr", "psnr_y", "ssim", "ssim_y"])
def test_direction_metadata_matches_behaviour(name):
    """Degrade step by step: the score moves in the direction the metadata declares."""
    hr = to_float(photo_like(48, 48, seed=5))
    rng = np.random.default_rng(6)
    noise = rng.normal(0, 1, hr.shape)
    fn, info = METRICS.create(name), METRICS.get(name).meta
    scores = [fn(np.clip(hr + s * noise, 0, 1), hr) for s in (0.01, 0.03, 0.1, 0.3)]
    assert info.higher_is_better
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
    lo, hi = info.value_range
    assert all(lo <= s <= hi for s in scores)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="must be equal"):
        psnr(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(np.zeros((8, 8, 1)), np.zeros((8, 8, 1)))


@pytest.mark.parametrize("shape", [(11, 11, 1), (12, 40, 3), (97, 53, 3), (256, 300, 1)])
def test_ssim_bands_in_threads_equal_one_pass(monkeypatch, shape):
    """Row bands scored on the thread pool tile the 'valid' SSIM map exactly: same value as one pass."""
    from iqa_bench.metrics import ssim as ssim_module

    rng = np.random.default_rng(sum(shape))
    a = rng.random(shape)
    b = np.clip(a + rng.normal(0, 0.1, shape), 0, 1)
    one_pass = np.mean([ssim_module._ssim_map_sum(a[..., c], b[..., c]) / ((shape[0] - 10) * (shape[1] - 10))
                        for c in range(shape[2])])
    for cpus in (1, 2, 5):
        monkeypatch.setattr(ssim_module, "cpu_count", lambda cpus=cpus: cpus)
        assert ssim_module.ssim(a, b) == pytest.approx(one_pass, abs=1e-13)


# --- the one metric contract at the Python boundary ------------------------------------------------------

def test_integer_images_are_converted_by_their_range_and_equal_float_inputs():
    from iqa_bench.metrics import create_metric

    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-6, 7, hr.shape), 0, 255).astype(np.uint8)
    for name in ("psnr", "psnr_y", "ssim", "ssim_y"):
        m = create_metric(name)
        as_float = m(sr / 255.0, hr / 255.0)
        assert m(sr, hr) == as_float  # uint8 = the same image as float on [0, 1] (was -3.31 dB for psnr_y)
        assert m(sr.astype(np.uint16) * 257, hr.astype(np.uint16) * 257) == pytest.approx(as_float, abs=1e-9)
        assert m.higher_is_better and m.info.kind == "fr"
    assert create_metric("psnr_y")(sr, hr) > 30


@pytest.mark.parametrize("bad, match", [
    (lambda a: a.astype(np.float64), r"float values in \[.*\], outside \[0, 1\]"),  # 0..255 floats
    (lambda a: a.astype(np.int64), "dtype int64"),
    (lambda a: a[:, :20], "differ in shape"),
    (lambda a: np.dstack([a, a[..., :1]]), "has shape"),  # RGBA
    (lambda a: a.tolist(), "not a numpy array"),
    (lambda a: np.full(a.shape, np.nan), "NaN"),
    (lambda a: np.where(np.arange(a.size).reshape(a.shape) == 7, np.nan, a / 255.0), "NaN/inf"),  # one pixel
    (lambda a: np.where(np.arange(a.size).reshape(a.shape) == 7, -np.inf, a / 255.0), "NaN/inf"),
])
def test_bad_inputs_are_refused_with_the_fix(bad, match):
    from iqa_bench.errors import InputError
    from iqa_bench.metrics import create_metric

    hr = np.full((24, 24, 3), 100, np.uint8)
    with pytest.raises(InputError, match=match) as exc:
        create_metric("psnr")(bad(hr), hr)
    assert "psnr" in str(exc.value) and "fix:" in str(exc.value)


def test_factory_signature_device_and_options():
    import doctest

    import iqa_bench.metrics as metrics
    from iqa_bench.errors import InputError
    from iqa_bench.metrics import create_metric

    assert create_metric("psnr", device="cpu")(np.zeros((4, 4)), np.zeros((4, 4))) == float("inf")
    with pytest.raises(InputError, match="runs on the CPU only"):
        create_metric("psnr", device="cuda")
    with pytest.raises(InputError, match="has no option"):
        create_metric("ssim", window=7)
    with pytest.raises(InputError, match="no-reference metric"):
        create_metric("tv")(np.zeros((8, 8)), np.zeros((8, 8)))
    assert doctest.testmod(metrics, verbose=False).failed == 0

"""Classic metrics without learned weights (entropy, PIQE, CW-SSIM, NLPD) against the official MATLAB values.

Values: the original implementations' results on IQA-PyTorch's calibration images (its
ResultsCalibra/calibration_summary.csv, rows without "(ours)"), published rounded to 4 decimals
(PIQE: 2). FR metrics compare ``dist_dir/X`` with ``ref_dir/X``; NR metrics score ``dist_dir/X``.
"""

from __future__ import annotations

import numpy as np
import pytest

from iqa_bench.io import read_image, to_float
from iqa_bench.metrics import METRICS, create_metric

IMAGES = ("I03", "I04", "I06", "I08", "I19")
OFFICIAL = {
    # metric: (values on IMAGES, absolute tolerance = half the last published digit + 1e-6)
    "entropy": ((6.9511, 6.9661, 7.5309, 7.5566, 5.7629), 5.1e-5),
    "piqe": ((100.0, 21.62, 35.86, 41.15, 76.95), 5.1e-3),
    "cw_ssim": ((0.2763, 0.9996, 1.0, 0.9068, 0.8658), 5.1e-5),
    "nlpd": ((0.5616, 0.0195, 0.0159, 0.3028, 0.4326), 5.1e-5),
}


@pytest.fixture(scope="module")
def pairs(calibration_images):
    def load(sub, name):
        return to_float(read_image(calibration_images / sub / f"{name}.bmp")[0])

    return {n: (load("dist_dir", n), load("ref_dir", n)) for n in IMAGES}


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_official_matlab_values(pairs, name):
    expected, tol = OFFICIAL[name]
    metric = METRICS.create(name)
    fr = METRICS.get(name).meta.kind == "fr"
    got = [metric(*pairs[i]) if fr else metric(pairs[i][0]) for i in IMAGES]
    assert np.abs(np.array(got) - np.array(expected)).max() <= tol, dict(zip(IMAGES, got))


def test_entropy_is_the_histogram_entropy_in_bits():
    flat = np.zeros((16, 16), np.uint8)
    half = np.repeat(np.array([[0, 255]], np.uint8), 8, axis=0).repeat(8, axis=1)
    every_level = np.arange(256, dtype=np.uint8).reshape(16, 16)
    m = create_metric("entropy")
    assert (m(flat), m(half), m(every_level)) == (0.0, 1.0, 8.0)


def test_entropy_falls_with_blur(calibration_images):
    """Entropy rises with noise (noise adds information), so its direction is checked on blur."""
    from scipy.ndimage import uniform_filter

    img = to_float(read_image(calibration_images / "ref_dir" / "I19.bmp")[0])
    m = create_metric("entropy")
    scores = [m(uniform_filter(img, size=(k, k, 1))) for k in (1, 5, 15)]
    assert scores[0] > scores[1] > scores[2]


def test_piqe_flat_image_is_worst_and_odd_sizes_are_padded():
    m = create_metric("piqe")
    assert m(np.full((40, 50, 3), 0.5)) == 100.0
    rng = np.random.default_rng(0)
    img = rng.random((37, 53, 3))
    padded = np.pad(img, ((0, 11), (0, 11), (0, 0)), mode="edge")
    assert m(img) == pytest.approx(m(padded), abs=1e-12)


def test_cw_ssim_is_one_for_equal_images_symmetric_and_refuses_tiny_images():
    from iqa_bench.errors import InputError

    rng = np.random.default_rng(1)
    a, b = rng.random((96, 128, 3)), rng.random((96, 128, 3))
    m = create_metric("cw_ssim")
    assert m(a, a) == pytest.approx(1.0, abs=1e-12)
    assert m(a, b) == pytest.approx(m(b, a), abs=1e-12)
    with pytest.raises(InputError, match="cw_ssim cannot build 4 pyramid levels on a 40x40 image"):
        m(a[:40, :40], b[:40, :40])


def test_nlpd_is_zero_for_equal_images_and_symmetric():
    rng = np.random.default_rng(2)
    a, b = rng.random((64, 80, 3)), rng.random((64, 80, 3))
    m = create_metric("nlpd")
    assert m(a, a) == 0.0
    assert m(a, b) == pytest.approx(m(b, a), abs=1e-12)


def test_nlpd_reference_cached_batched_and_pairwise_are_the_same_to_the_bit():
    """The HR pyramid made once, the outputs of one HR image on the thread pool, or one pair: one value."""
    from iqa_bench.errors import InputError
    from iqa_bench.metrics.base import BatchCompared, ReferenceCached

    rng = np.random.default_rng(3)
    hr = rng.random((70, 90, 3))
    srs = [np.clip(hr + rng.normal(0, s, hr.shape), 0, 1) for s in (0.01, 0.05, 0.1)]
    m = create_metric("nlpd")
    assert isinstance(m, ReferenceCached) and isinstance(m, BatchCompared)
    ref = m.reference(hr)
    pairwise = [m(sr, hr) for sr in srs]
    assert m.compare_many(srs, ref) == pairwise == [m.compare(sr, ref) for sr in srs]
    assert pairwise[0] < pairwise[1] < pairwise[2]
    with pytest.raises(InputError, match="nlpd cannot score a 40x31 image"):
        m(hr[:31, :40], hr[:31, :40])

"""MS-SSIM's two paths: scipy float64 planes on the CPU, torch float64 tensors on a GPU (its value against
piq's is in ``test_piq_reimplementations.py``)."""

from __future__ import annotations

import pytest
import torch

from iqa_bench.errors import InputError
from iqa_bench.metrics.ms_ssim import MIN_SIDE, MSSSIM, _TorchOps


@pytest.mark.parametrize("crop", [(slice(None), slice(None)), (slice(0, 161), slice(3, 258))])  # even; odd, minimal
def test_the_torch_path_equals_the_numpy_path(img, crop):
    """The formulas the GPU runs (here on the CPU's torch) give the CPU path's value to float64 rounding,
    RGB and grey, even sides and the smallest odd ones (every scale padded)."""
    sr, hr = (img(n)[crop] for n in ("i01_01_5.bmp", "I01.BMP"))
    numpy_path, torch_path = MSSSIM("cpu"), MSSSIM("cpu")
    torch_path.ops = _TorchOps(torch.device("cpu"))
    for x, y in ((sr, hr), (sr.mean(axis=2, keepdims=True), hr.mean(axis=2, keepdims=True))):
        value = numpy_path(x, y)
        assert 0.5 < value < 1.0
        assert torch_path(x, y) == pytest.approx(value, abs=1e-12)


def test_the_smallest_image_it_scores_is_161_pixels(img):
    hr = img("I01.BMP")
    assert MIN_SIDE == 161
    assert MSSSIM()(hr[:161, :161], hr[:161, :161]) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(InputError, match="at least 161 pixels"):
        MSSSIM()(hr[:160, :200], hr[:160, :200])

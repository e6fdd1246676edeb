"""SR-SIM: piq's value (the authors' conventions), computed with the HR side once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iqa_bench.errors import InputError
from iqa_bench.metrics import METRICS


@pytest.mark.parametrize("crop", [(slice(None), slice(None)), (slice(0, 191), slice(3, 258))])  # even; odd sides
def test_equals_piq_srsim_in_float32_and_float64(img, crop):
    """The value of ``piq.srsim`` on a real pair (TID2013 I01 and its JPEG2000 distortion), RGB and
    grey, even and odd sides, within float32 rounding of piq's float32 and float64 values."""
    import piq

    a, b = (img(n)[crop] for n in ("i01_01_5.bmp", "I01.BMP"))
    m = METRICS.create("srsim")
    for x, y in ((a, b), (a.mean(axis=2, keepdims=True), b.mean(axis=2, keepdims=True))):
        for dtype in (torch.float32, torch.float64):
            tx, ty = (torch.from_numpy(np.ascontiguousarray(v.transpose(2, 0, 1)))[None].to(dtype) for v in (x, y))
            assert m(x, y) == pytest.approx(float(piq.srsim(tx, ty, data_range=1.0)), abs=2e-6)


def test_reference_once_for_many_outputs(img):
    m = METRICS.create("srsim")
    hr = img("I01.BMP")
    ref = m.reference(hr)
    for sr in (img("i01_01_5.bmp"), np.clip(hr + 0.03, 0, 1), hr):
        assert m.compare(sr, ref) == m(sr, hr)
    assert m.compare(hr, ref) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="must be equal"):
        m.compare(hr[:64], ref)


def test_too_small_an_image_is_refused_with_the_fix(img):
    small = img("I01.BMP")[:30, :60]  # its quarter-size copy is smaller than the 10x10 Gaussian
    with pytest.raises(InputError, match="(?s)cannot score a 60x30 image.*drop srsim"):
        METRICS.create("srsim")(small, small)

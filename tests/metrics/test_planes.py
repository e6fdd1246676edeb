"""The float64 plane metrics (MS-SSIM, VIF-P): scipy planes on the CPU, torch tensors on a GPU, one formula
(their values against piq's are in ``test_piq_reimplementations.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iqa_bench.errors import InputError
from iqa_bench.metrics import METRICS
from iqa_bench.metrics._planes import TorchPlanes


@pytest.mark.parametrize("name", ["ms_ssim", "vif_p"])
@pytest.mark.parametrize("crop", [(slice(None), slice(None)), (slice(0, 161), slice(3, 258))])  # even; odd, small
def test_the_torch_path_equals_the_numpy_path(img, name, crop):
    """The formulas the GPU runs (here on the CPU's torch) give the CPU path's value to float64 rounding,
    RGB and grey, even sides and odd ones (MS-SSIM: the smallest it takes, every scale padded)."""
    sr, hr = (img(n)[crop] for n in ("i01_01_5.bmp", "I01.BMP"))
    numpy_path, torch_path = METRICS.create(name), METRICS.create(name)
    torch_path.ops = TorchPlanes(torch.device("cpu"))
    for x, y in ((sr, hr), (sr.mean(axis=2, keepdims=True), hr.mean(axis=2, keepdims=True))):
        value = numpy_path(x, y)
        assert 0.2 < value < 1.0
        assert torch_path(x, y) == pytest.approx(value, rel=1e-12)


def test_vif_keeps_piqs_guards_for_flat_regions(img):
    """Flat areas (variance below 1e-8) in the reference, the output or both score as in ``piq.vif_p``."""
    import piq

    hr, sr = img("I01.BMP").copy(), img("i01_01_5.bmp").copy()
    hr[:100, :200] = 0.5  # flat in the reference only
    sr[150:250, 100:300] = 0.25  # flat in the output only
    hr[300:, 300:] = sr[300:, 300:] = 0.75  # flat in both
    tx, ty = (torch.from_numpy(np.ascontiguousarray(v.transpose(2, 0, 1)))[None] for v in (sr, hr))
    assert METRICS.create("vif_p")(sr, hr) == pytest.approx(float(piq.vif_p(tx, ty, data_range=1.0)), abs=1e-9)


def test_the_smallest_images_they_score(img):
    hr = img("I01.BMP")
    for name, side in (("ms_ssim", 161), ("vif_p", 41)):
        m = METRICS.create(name)
        assert m(hr[:side, :side], hr[:side, :side]) == pytest.approx(1.0, abs=1e-8)  # VIF: var / (var + 1e-8)
        with pytest.raises(InputError, match=f"at least {side} pixels"):
            m(hr[: side - 1, :200], hr[: side - 1, :200])

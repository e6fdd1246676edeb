"""The metrics written here on piq's conventions so that the HR side is computed once per HR image
(``dss``, ``fsim``, ``fsimc``, ``gmsd``, ``ms_gmsd``, ``haarpsi``, ``srsim``,
``vsi``, ``mdsi``, ``ms_ssim``, ``vif_p``, ``iw_ssim``): each equals its piq function, and
its cached path its direct call."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iqa_bench.metrics import METRICS

# name, abs tolerance against piq run in float32 and in float64, value of an image against itself.
# Float32 metrics: float32 rounding either way. DSS computes in float64: piq's float64 value to 1e-7
# (piq keeps its per-subband scores in a float32 matrix, 8e-9 measured); piq's float32 run drifts (up
# to 7e-4 on a grey image, the reason DSS is float64).
# IW-SSIM computes in float32 as piq does: piq's float32 value bit for bit; piq's float64 run is up to
# 1.2e-5 away (the eigen-decomposed neighbourhood covariances).
CASES = [("dss", (1e-3, 1e-7), 1.0), ("fsim", (2e-6, 2e-6), 1.0), ("fsimc", (2e-6, 2e-6), 1.0),
         ("gmsd", (1e-6, 1e-6), 0.0), ("ms_gmsd", (1e-6, 1e-6), 0.0), ("haarpsi", (2e-6, 2e-6), 1.0),
         ("srsim", (2e-6, 2e-6), 1.0), ("vsi", (2e-6, 2e-6), 1.0),
         ("mdsi", (2e-6, 2e-6), 0.0), ("ms_ssim", (2e-6, 1e-9), 1.0),
         ("vif_p", (2e-6, 1e-9), 1.0), ("iw_ssim", (2e-6, 2e-5), 1.0)]
PIQ_CALLS = {"ms_gmsd": ("multi_scale_gmsd", {}), "ms_ssim": ("multi_scale_ssim", {}),
             "iw_ssim": ("information_weighted_ssim", {}), "fsim": ("fsim", {"chromatic": False}),
             "fsimc": ("fsim", {"chromatic": True})}


@pytest.mark.parametrize("name, tol", [(n, t) for n, t, _ in CASES])
@pytest.mark.parametrize("crop", [(slice(None), slice(None)), (slice(0, 191), slice(3, 258))])  # even; odd sides
def test_equals_piq_in_float32_and_float64(img, name, tol, crop):
    """The value of the piq function of the same name (the authors' conventions) on a real pair (TID2013
    I01 and its JPEG2000 distortion), RGB and grey, even and odd sides, within the rounding of piq's
    float32 and float64 values."""
    import piq

    a, b = (img(n)[crop] for n in ("i01_01_5.bmp", "I01.BMP"))
    m = METRICS.create(name)
    for x, y in ((a, b), (a.mean(axis=2, keepdims=True), b.mean(axis=2, keepdims=True))):
        for dtype, dtype_tol in zip((torch.float32, torch.float64), tol):
            tx, ty = (torch.from_numpy(np.ascontiguousarray(v.transpose(2, 0, 1)))[None].to(dtype) for v in (x, y))
            fn, kwargs = PIQ_CALLS.get(name, (name, {}))
            if x.shape[2] == 1 and "chromatic" in kwargs:  # a grey image: its luma-only score
                kwargs = {**kwargs, "chromatic": False}
            assert m(x, y) == pytest.approx(float(getattr(piq, fn)(tx, ty, data_range=1.0, **kwargs)), abs=dtype_tol)


@pytest.mark.parametrize("name, identical", [(n, v) for n, _, v in CASES])
def test_reference_once_for_many_outputs(img, name, identical):
    """``compare(sr, reference(hr))`` is the direct call's value, bit for bit, for several outputs
    against one reference; an image against itself scores the metric's best value; a reference
    refuses an output of another size."""
    m = METRICS.create(name)
    hr = img("I01.BMP")
    ref = m.reference(hr)
    for sr in (img("i01_01_5.bmp"), np.clip(hr + 0.03, 0, 1), hr):
        assert m.compare(sr, ref) == m(sr, hr)
    assert m.compare(hr, ref) == pytest.approx(identical, abs=1e-5)  # float32 (HaarPSI: a logit next to 1)
    with pytest.raises(ValueError, match="must be equal"):
        m.compare(hr[:64], ref)

"""``metrics/_torch.as_tensor``: every numpy image a user may hand a metric becomes the same tensor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iqa_bench.metrics import METRICS
from iqa_bench.metrics._torch import as_tensor


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_views_flips_and_read_only_arrays_give_the_same_tensor(dtype):
    rng = np.random.default_rng(0)
    img = rng.random((40, 30, 3))
    want = torch.from_numpy(img.transpose(2, 0, 1).copy()).to(dtype)[None]
    bgr = img[:, :, ::-1].copy()
    read_only = img.copy()
    read_only.flags.writeable = False
    for view in (img, img[5:, 3:][:-5, :-3], bgr[:, :, ::-1], read_only, np.asfortranarray(img)):
        t = as_tensor(view, dtype=dtype)
        assert t.dtype == dtype and t.is_contiguous()
        assert torch.equal(t, want[..., : t.shape[2], : t.shape[3]] if t.shape == want.shape else
                           torch.from_numpy(np.ascontiguousarray(view.transpose(2, 0, 1))).to(dtype)[None])


def test_a_metric_scores_a_bgr_flipped_view_as_the_copy():
    rng = np.random.default_rng(1)
    hr = rng.random((64, 64, 3))
    bgr = np.ascontiguousarray(hr[:, :, ::-1])
    m = METRICS.create("gmsd")
    assert m(bgr[:, :, ::-1], hr) == m(hr.copy(), hr) == pytest.approx(0.0, abs=1e-6)

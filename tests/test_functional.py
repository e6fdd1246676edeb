"""iqa_bench.functional: the registered metrics as functions on numpy and torch images and batches,
equal to the engine's values; its docstring examples run."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

import iqa_bench
from iqa_bench import functional as F
from iqa_bench.errors import InputError
from iqa_bench.metrics import create_metric
from tests.conftest import photo_like


def test_docstring_examples_run():
    assert doctest.testmod(F).failed == 0


def test_numpy_torch_batches_and_data_range_give_the_same_values():
    hr = photo_like(40, 40, seed=1)
    sr = np.clip(hr.astype(int) + np.random.default_rng(0).integers(-5, 6, hr.shape), 0, 255).astype(np.uint8)
    one = F.psnr_y(sr, hr, crop_border=4)
    assert one == create_metric("psnr_y")(sr[4:-4, 4:-4], hr[4:-4, 4:-4]) and isinstance(one, float)
    to_t = lambda a: torch.from_numpy(a).permute(2, 0, 1)  # noqa: E731
    assert F.psnr_y(to_t(sr), to_t(hr), crop_border=4) == one
    batch = F.psnr_y(torch.stack([to_t(sr), to_t(hr)]), torch.stack([to_t(hr), to_t(hr)]), crop_border=4)
    assert batch.shape == (2,) and batch[0] == one and batch[1] == float("inf")
    assert F.psnr_y(sr.astype(np.float32), hr.astype(np.float32), crop_border=4, data_range=255) == pytest.approx(one)
    assert F.ssim(sr, hr) == create_metric("ssim")(sr, hr)
    assert iqa_bench.functional is F and iqa_bench.create_metric is create_metric


def test_functional_errors_are_clear():
    hr = photo_like(16, 16)
    with pytest.raises(InputError, match="outside \\[0, 1\\]"):
        F.psnr(hr.astype(float), hr.astype(float))  # 0..255 floats without data_range
    with pytest.raises(InputError, match="leaves nothing"):
        F.psnr(hr, hr, crop_border=8)
    with pytest.raises(InputError, match="2 predictions but 1 targets"):
        F.psnr(np.stack([hr, hr]), hr[None])
    with pytest.raises(InputError, match="no-reference"):
        F.score("tv", hr, hr)

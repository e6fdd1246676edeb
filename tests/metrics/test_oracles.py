"""BasicSR's MATLAB parity table on Set14 baboon (LR x1/4, SR bicubic x4, crop 4): MATLAB's own values."""

from __future__ import annotations

import pytest

from iqa_bench.data.degrade import DEGRADATIONS, modcrop
from iqa_bench.io import read_image, to_float
from iqa_bench.metrics import METRICS
from iqa_bench.models import MODELS
from iqa_bench.runners import RUNNERS

# value, tolerance (1e-5 on PSNR, 1e-6 on SSIM: MATLAB's printed precision)
BASELINE = {
    "psnr": (20.419710, 1e-5),
    "psnr_y": (22.441899, 1e-5),
    "ssim": (0.391853, 1e-6),
    "ssim_y": (0.453098, 1e-6),
}


@pytest.fixture(scope="module")
def baboon_pair(shared):
    hr, _ = read_image(shared / "oracles" / "images" / "baboon_GTmod12.png")
    hr = modcrop(hr, 4)
    assert hr.shape == (480, 492, 3)
    lr = DEGRADATIONS["basicsr"](hr, 4)  # the parity table's LR: BasicSR's MATLAB port
    bicubic = MODELS.get("bicubic").meta
    sr = RUNNERS.create(bicubic.backend, model=bicubic, variant="fp64").upscale_uint8(lr, 4)
    return to_float(sr)[4:-4, 4:-4], to_float(hr)[4:-4, 4:-4]


@pytest.mark.parametrize("metric", sorted(BASELINE))
def test_basicsr_matlab_parity_table(baboon_pair, metric):
    value, tol = BASELINE[metric]
    got = METRICS.create(metric)(*baboon_pair)
    assert got == pytest.approx(value, abs=tol), f"{metric}: {got:.7f} vs {value}"

"""BRISQUE: the authors' values where rounding cannot decide them, and the same value whatever the
order of the local sums where it could (flat areas)."""

from __future__ import annotations

import pytest

from iqa_bench.io import read_image, to_float
from iqa_bench.metrics import METRICS, brisque


def _conv2d_sums(x, g):
    """The same sums as ``brisque._gauss_sum`` by torch's 2-D ``conv2d`` (another order)."""
    import torch.nn.functional as F

    return F.conv2d(x, (g[:, None] * g[None, :])[None, None], padding=g.shape[0] // 2)


@pytest.fixture(scope="module")
def metric(store):
    return METRICS.create("brisque", store=store)


@pytest.mark.parametrize("name, official", [("I03", 94.6421), ("I04", -0.1076), ("I06", 0.9929)])
def test_official_values_on_images_without_flat_areas(metric, calibration_images, name, official):
    """The LIVE MATLAB code's values on IQA-PyTorch's calibration images (its calibration_summary.csv);
    measured here 94.6429, -0.1072, 0.9874 (the second scale's MATLAB resize is reproduced, not bit for bit)."""
    img = to_float(read_image(calibration_images / "dist_dir" / f"{name}.bmp")[0])
    assert metric(img) == pytest.approx(official, abs=0.01)


@pytest.mark.parametrize("image", ["I19", "ppt3"])
def test_flat_areas_score_the_same_whatever_the_order_of_the_sums(metric, calibration_images, shared, image,
                                                                    monkeypatch):
    """I19 (official 72.26, a draw of MATLAB's rounding) and Set14 ppt3 x4 bicubic have flat areas: with
    the rounding residue of the local mean kept, torch's conv2d and the fixed-order sums give scores
    points apart; with it set to 0 (the default) both give the exact-arithmetic score."""
    path = (calibration_images / "dist_dir" / "I19.bmp" if image == "I19"
            else shared / "data" / "Set14" / "LR_bicubic" / "X4" / "ppt3.png")
    img = to_float(read_image(path)[0])
    ours = metric(img)
    monkeypatch.setattr(brisque, "_gauss_sum", _conv2d_sums)
    assert metric(img) == pytest.approx(ours, abs=1e-6)
    assert ours == pytest.approx({"I19": 74.4298, "ppt3": 40.2991}[image], abs=1e-3)
    monkeypatch.setattr(brisque, "FLAT", 0.0)
    with_conv2d = metric(img)
    monkeypatch.undo()
    monkeypatch.setattr(brisque, "FLAT", 0.0)
    assert abs(metric(img) - with_conv2d) > 0.5  # the residue's signs decide the score


def test_second_scale_of_an_odd_side_is_matlabs_half_size(metric, shared):
    """Set14 zebra x4 bicubic LR is 97x146: MATLAB's imresize(I, 0.5) gives 49 rows (ceil), piq 48
    (floor, another grid), and BRISQUE follows the grid by 3 points (19.97 with piq's)."""
    img = to_float(read_image(shared / "data" / "Set14" / "LR_bicubic" / "X4" / "zebra.png")[0])
    assert img.shape[:2] == (97, 146)
    assert metric(img) == pytest.approx(22.9909, abs=1e-3)

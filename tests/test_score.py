"""`iqa-bench score`: pairs of files or folders, JSON layout, NR on DIST alone, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from iqa_bench.cli import app
from iqa_bench.io import read_image, to_float
from iqa_bench.metrics import METRICS
from tests.conftest import photo_like, save_png

runner = CliRunner()


@pytest.fixture()
def folders(tmp_path):
    for i in range(3):
        hr = photo_like(96, 128, seed=i)
        noisy = np.clip(hr.astype(int) + np.random.default_rng(i).integers(-12, 13, hr.shape), 0, 255).astype(np.uint8)
        save_png(tmp_path / "ref" / f"img{i}.png", hr)
        save_png(tmp_path / "dist" / f"img{i}.png", noisy)
    return tmp_path / "ref", tmp_path / "dist"


def test_folders_are_matched_by_name_and_json_has_per_image_and_mean(folders, tmp_path):
    ref, dist = folders
    res = runner.invoke(app, ["score", str(ref), str(dist), "--metrics", "psnr,ssim_y,tv", "--json", str(tmp_path / "o.json")])
    assert res.exit_code == 0, res.output
    got = json.loads((tmp_path / "o.json").read_text())
    assert set(got) == {"psnr", "ssim_y", "tv"}
    psnr = METRICS.create("psnr")
    for name in ("img0", "img1", "img2"):
        a = to_float(read_image(dist / f"{name}.png")[0])
        b = to_float(read_image(ref / f"{name}.png")[0])
        assert got["psnr"]["per_image"][name] == pytest.approx(psnr(a, b), abs=1e-12)
    assert got["psnr"]["mean"] == pytest.approx(np.mean(list(got["psnr"]["per_image"].values())))
    assert "mean" in res.output and "img1" in res.output


def test_crop_removes_border(folders):
    ref, dist = folders
    full = runner.invoke(app, ["score", str(ref / "img0.png"), str(dist / "img0.png"), "--metrics", "psnr"])
    cropped = runner.invoke(app, ["score", str(ref / "img0.png"), str(dist / "img0.png"), "--metrics", "psnr", "--crop", "4"])
    assert full.exit_code == cropped.exit_code == 0
    assert full.output != cropped.output


def test_nr_metric_takes_dist_alone(folders):
    _, dist = folders
    res = runner.invoke(app, ["score", str(dist), "--metrics", "tv"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["score", str(dist), "--metrics", "psnr"])
    assert res.exit_code == 2 and "psnr need a reference image" in res.output


def test_errors_name_the_files(folders, tmp_path):
    ref, dist = folders
    save_png(dist / "extra.png", photo_like(96, 128))
    res = runner.invoke(app, ["score", str(ref), str(dist), "--metrics", "psnr"])
    assert res.exit_code == 2 and "extra" in res.output and "no reference of the same name" in res.output
    save_png(tmp_path / "small.png", photo_like(48, 64))
    res = runner.invoke(app, ["score", str(ref / "img0.png"), str(tmp_path / "small.png"), "--metrics", "psnr"])
    assert res.exit_code == 2 and "small.png is 64x48x3" in res.output and "img0.png is 128x96x3" in res.output
    res = runner.invoke(app, ["score", str(ref / "img0.png"), str(dist / "img0.png"), "--metrics", "pieapp"])
    assert res.exit_code == 2 and "not available" in res.output and "PieAPP" in res.output

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


def test_score_and_evaluate_crop_by_one_rule(shared, tmp_path, monkeypatch):
    """`score --scale 4` drops the border exactly as `evaluate --scale 4` does for crop='scale' metrics
    (VDSR-like gap: 31.338 vs 31.446 dB before), by each metric's metadata; the crop is recorded."""
    import json

    from iqa_bench.engine import EvalConfig, evaluate
    from iqa_bench.results import load_run

    set5 = shared / "data" / "Set5"
    evaluate(EvalConfig(datasets=(str(set5),), models=("bicubic",), metrics=("psnr_y", "tv"), scales=(4,),
                        out=tmp_path / "run"))
    ev = load_run(tmp_path / "run").set_index(["image", "metric"])["value"]
    sr = tmp_path / "run" / "outputs" / "Set5" / "x4" / "bicubic" / "fp64-interp"
    hr = tmp_path / "hr"
    from iqa_bench.data.degrade import modcrop
    from iqa_bench.io import read_image
    from tests.conftest import save_png

    for p in sorted((set5 / "HR").glob("*.png")):
        save_png(hr / p.name, modcrop(read_image(p)[0], 4))
    res = runner.invoke(app, ["score", str(hr), str(sr), "--metrics", "psnr_y,tv", "--scale", "4", "--json",
                              str(tmp_path / "s.json")])
    assert res.exit_code == 0, res.output
    got = json.loads((tmp_path / "s.json").read_text())
    from iqa_bench.metrics import METRICS

    for m in ("psnr_y", "tv"):
        assert got[m]["crop"] == (4 if METRICS.get(m).meta.crop == "scale" else 0)
    for img, v in got["psnr_y"]["per_image"].items():
        assert v == pytest.approx(ev[(img, "psnr_y")], abs=1e-9)
        assert got["tv"]["per_image"][img] == pytest.approx(ev[(img, "tv")], rel=1e-6)
    plain = runner.invoke(app, ["score", str(hr), str(sr), "--metrics", "psnr_y"])
    assert plain.exit_code == 0 and "pass --scale S" in plain.output
    both = runner.invoke(app, ["score", str(hr), str(sr), "--metrics", "psnr_y", "--scale", "4", "--crop", "2"])
    assert both.exit_code == 2 and "both given" in both.output

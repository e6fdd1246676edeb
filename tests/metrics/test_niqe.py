"""NIQE: MATLAB R2021a's niqe on Set14 baboon HR (Y, no crop: 5.72957338), direction, missing weights."""

from __future__ import annotations

import numpy as np
import pytest

from iqa_bench.engine import EvalConfig, evaluate
from iqa_bench.io import read_image, to_float
from iqa_bench.metrics import METRICS
from iqa_bench.results import load_run
from iqa_bench.weights import WeightsError, WeightsStore


@pytest.fixture(scope="module")
def niqe(shared):
    store = WeightsStore(paths=[shared / "weights"], cache_dir=shared / "no-cache", allow_download=False)
    return METRICS.create("niqe", store=store)


@pytest.fixture(scope="module")
def baboon(shared):
    return to_float(read_image(shared / "oracles" / "images" / "baboon_GTmod12.png")[0])


def test_matlab_value_on_baboon(niqe, baboon):
    # measured 5.729711; tolerance 1e-3 (MATLAB's value to 3 decimals)
    assert niqe(baboon) == pytest.approx(5.72957338, abs=1e-3)


def test_noise_raises_niqe(niqe, baboon):
    info = METRICS.get("niqe").meta
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(baboon.shape)
    scores = [niqe(np.clip(baboon + s * noise, 0, 1)) for s in (0.0, 0.05, 0.15)]
    assert not info.higher_is_better and info.kind == "nr"
    assert scores[0] < scores[1] < scores[2], scores


def test_grey_image_is_scored_on_its_values(niqe, baboon):
    rgb = baboon
    y = np.round((16 / 255 + rgb @ np.array([65.481, 128.553, 24.966]) / 255) * 255) / 255
    assert niqe(y[..., None]) == pytest.approx(niqe(rgb), abs=1e-9)


def test_too_small_image_is_an_error(niqe):
    with pytest.raises(ValueError, match="at least 96x96"):
        niqe(np.zeros((50, 200, 3)))


def test_missing_pristine_model_is_a_clear_error(tmp_path):
    store = WeightsStore(paths=[], cache_dir=tmp_path, allow_download=False)
    with pytest.raises(WeightsError) as exc:
        METRICS.create("niqe", store=store)
    assert "niqe_modelparameters_live_release.mat" in exc.value.message
    assert "fa2aa4d12dd9" in exc.value.hint


def test_engine_scores_nr_metric_on_sr_output(shared, tmp_path, monkeypatch):
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
    evaluate(EvalConfig(datasets=(str(shared / "data" / "Set5"),), models=("bicubic", "nearest"),
                        metrics=("psnr_y", "niqe"), scales=(4,), out=tmp_path / "r"))
    df = load_run(tmp_path / "r")
    niqe = df[df.metric == "niqe"].groupby("model")["value"].mean()
    assert len(df[df.metric == "niqe"]) == 10 and np.isfinite(niqe).all()
    assert niqe["nearest"] != niqe["bicubic"]

"""`iqa-bench train`: real training steps of zoo networks on small images (no mocks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from iqa_bench.errors import InputError
from iqa_bench.models import MODELS
from iqa_bench.models.archs import build_network
from iqa_bench.train import LossWeights, TrainConfig, train, validate, validation_metrics
from iqa_bench.train.data import PatchSampler, load_pairs, split_folder
from tests.conftest import photo_like, save_png


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Six 96x96 photo-like images (the tests hold out the last two for validation)."""
    root = tmp_path_factory.mktemp("hr")
    for i in range(6):
        save_png(root / f"img{i}.png", photo_like(96, 96, seed=i))
    return root


def _cfg(**kw) -> TrainConfig:
    base = dict(model="fsrcnn_s", scale=2, steps=12, batch=4, patch=16, lr=2e-3, val_every=4, seed=3)
    return TrainConfig(**{**base, **kw})


def _train(cfg: TrainConfig, folder: Path, out: Path, **kw):
    return train(cfg, folder, out, **{"val_holdout": 2, **kw})


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_patches_are_aligned_lr_hr_crops(folder: Path) -> None:
    """A patch's input is the network input of exactly the LR crop whose HR crop is its target."""
    info = MODELS.get("srunet").meta
    pairs = load_pairs(split_folder(folder, 2)[0], info, 2)
    x, y = PatchSampler(pairs, 2, 8).batch(np.random.default_rng(0), 5)
    assert x.shape == (5, 3, 8, 8) and y.shape == (5, 3, 16, 16)
    from iqa_bench.data.imresize import imresize

    for xi, yi in zip(x, y):  # the target degraded again is (up to uint8 rounding and borders) the input
        down = imresize(yi.transpose(1, 2, 0).astype(np.float64), 0.5)
        assert np.abs(down[2:-2, 2:-2] - xi.transpose(1, 2, 0)[2:-2, 2:-2]).max() < 0.02


def test_pre_upsampled_and_valid_padding_targets(folder: Path) -> None:
    info = MODELS.get("srcnn").meta  # pre-upsampled Y, valid padding (shrinks 6 px a side)
    pairs = load_pairs(split_folder(folder, 2)[0], info, 2)
    x, y = PatchSampler(pairs, 2, 12, shrink=6).batch(np.random.default_rng(0), 2)
    assert x.shape == (2, 1, 24, 24) and y.shape == (2, 1, 12, 12)


def test_loss_falls_and_weights_round_trip(folder: Path, tmp_path: Path) -> None:
    res = _train(_cfg(steps=40, val_every=10), folder, tmp_path / "run")
    hist = res.log["history"]
    assert [h["step"] for h in hist] == [10, 20, 30, 40]
    assert hist[-1]["l1"] < 0.7 * hist[0]["l1"]
    assert hist[-1]["val"]["psnr_y"] > hist[0]["val"]["psnr_y"]
    assert res.log["val_images"] == ["img4.png", "img5.png"] and res.log["train_images"] == 4
    # the saved file, loaded as the zoo loads weights, scores exactly what training last validated
    info = MODELS.get("fsrcnn_s").meta
    net = build_network(info, 2, str(res.weights))
    metrics, _ = validation_metrics(("psnr_y", "ssim_y"))
    again = validate(net, info, _cfg(), [folder / "img4.png", folder / "img5.png"], metrics)
    assert again == {k: hist[-1]["val"][k] for k in again}
    assert (tmp_path / "run" / "train.json").is_file() and res.log["sha256"]


def test_interrupted_run_resumes_to_the_same_weights(folder: Path, tmp_path: Path) -> None:
    whole = _train(_cfg(), folder, tmp_path / "whole")
    part = _train(_cfg(), folder, tmp_path / "part", stop_after=5)
    assert not part.weights.exists()  # interrupted: checkpoint only
    resumed = _train(_cfg(), folder, tmp_path / "part")
    a, b = torch.load(whole.weights), torch.load(resumed.weights)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_other_options_is_refused(folder: Path, tmp_path: Path) -> None:
    _train(_cfg(steps=4), folder, tmp_path / "r")
    with pytest.raises(InputError, match="checkpoint.pt was made with another configuration") as exc:
        _train(_cfg(steps=4, lr=1e-3), folder, tmp_path / "r")
    assert "--restart" in exc.value.hint
    assert _train(_cfg(steps=4, lr=1e-3), folder, tmp_path / "r", restart=True).log["config"]["lr"] == 1e-3


def test_fp16_weights_are_half_the_size_and_load(folder: Path, tmp_path: Path) -> None:
    res = _train(_cfg(steps=2, val_every=2), folder, tmp_path / "h", fp16_weights=True)
    sd = torch.load(res.weights)
    assert all(v.dtype == torch.float16 for v in sd.values())
    net = build_network(MODELS.get("fsrcnn_s").meta, 2, str(res.weights))
    assert next(net.parameters()).dtype == torch.float32


def test_gan_recipe_trains_generator_and_discriminator(folder: Path, tmp_path: Path, shared: Path, monkeypatch) -> None:
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))  # LPIPS's AlexNet
    cfg = _cfg(model="srunet", steps=4, val_every=2, loss="gan", weights=LossWeights(warmup=2, pixel=0.5))
    hist = _train(cfg, folder, tmp_path / "g").log["history"]
    assert set(hist[0]) >= {"l1"} and "disc" not in hist[0]  # warm-up: L1 alone
    assert set(hist[1]) >= {"l1", "lpips", "ssim", "adv", "disc"}
    assert set(hist[1]["val"]) == {"psnr_y", "ssim_y", "lpips"}


def test_bad_inputs_are_one_clear_error(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="interpolation"):
        _train(_cfg(model="bicubic"), folder, tmp_path / "x")
    with pytest.raises(InputError, match="not x3"):
        _train(_cfg(model="srunet", scale=3), folder, tmp_path / "x")
    with pytest.raises(InputError, match="6 images; 6 are held out"):
        _train(_cfg(), folder, tmp_path / "x", val_holdout=6)
    with pytest.raises(InputError, match="not a positive whole number"):
        _cfg(steps=0)
    with pytest.raises(InputError, match="unknown degradation 'gauss'"):
        _cfg(degradation="gauss")
    with pytest.raises(InputError, match="at least 192 pixels"):
        _train(_cfg(patch=96), folder, tmp_path / "x")
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="torn/checkpoint.pt cannot be read"):
        _train(_cfg(), folder, tmp_path / "torn")

"""Differentiable metrics as losses: the same values as the scoring path, gradients that train."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

from iqa_bench import create_metric
from iqa_bench.errors import InputError
from iqa_bench.io import read_image, to_float
from iqa_bench.metrics import METRICS
from iqa_bench.weights import WeightsStore


@pytest.fixture(scope="module")
def store(shared):
    return WeightsStore(paths=[shared / "weights"], cache_dir=shared / "no-cache", allow_download=False)


@pytest.fixture(scope="module")
def pair(shared):
    """A real distorted/reference pair (TID2013 I01, distortion 01 = additive Gaussian noise, level 5), 96x128."""
    def load(name):
        return to_float(read_image(shared / "oracles" / "images" / name, drop_alpha=True)[0])[:96, :128]

    return load("i01_01_5.bmp"), load("I01.BMP")


def _nchw(img: np.ndarray, dtype=torch.float64) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].to(dtype)


def _options(name, store):
    return {"store": store} if METRICS.get(name).meta.weights else {}


@pytest.mark.parametrize("name, dtype, tol", [("ssim", torch.float64, 1e-12), ("ssim_y", torch.float64, 1e-12),
                                              ("lpips", torch.float32, 1e-6), ("lpips_vgg", torch.float32, 1e-6),
                                              ("dists", torch.float32, 1e-6)])
def test_loss_value_is_the_metric_value(store, pair, name, dtype, tol):
    sr, hr = pair
    metric = create_metric(name, **_options(name, store))
    loss = create_metric(name, as_loss=True, **_options(name, store))
    value = metric(sr, hr)
    got = float(loss(_nchw(sr, dtype), _nchw(hr, dtype)))
    want = 1.0 - value if metric.higher_is_better else value
    assert got == pytest.approx(want, abs=tol)
    # a batch gives each image's own value; grey inputs work as the scoring path's grey convention
    batch = loss(torch.cat([_nchw(sr, dtype), _nchw(hr, dtype)]), torch.cat([_nchw(hr, dtype)] * 2), reduction="none")
    assert batch.shape == (2,) and float(batch[0]) == pytest.approx(want, abs=tol) and abs(float(batch[1])) < 1e-6
    grey = loss(_nchw(sr[..., :1], dtype), _nchw(hr[..., :1], dtype))
    want_grey = metric(sr[..., :1], hr[..., :1])
    assert float(grey) == pytest.approx(1.0 - want_grey if metric.higher_is_better else want_grey, abs=tol)


@pytest.mark.parametrize("name", ["ssim", "lpips", "dists"])
def test_a_few_gradient_steps_improve_the_metric(store, pair, name):
    """The loss can train: Adam on the pixels of the distorted image moves it towards the reference
    by the metric's own judgement (scored afterwards by the numpy path), and the network's weights
    stay frozen."""
    sr, hr = pair
    metric = create_metric(name, **_options(name, store))
    loss = create_metric(name, as_loss=True, **_options(name, store))
    x = _nchw(sr, torch.float32).requires_grad_()
    target = _nchw(hr, torch.float32)
    opt = torch.optim.Adam([x], lr=0.01)
    for _ in range(15):
        opt.zero_grad()
        loss(x, target).backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    after = x.detach()[0].permute(1, 2, 0).double().numpy()
    before_v, after_v = metric(sr, hr), metric(after, hr)
    assert (after_v > before_v + 0.01) if metric.higher_is_better else (after_v < before_v - 0.01), (before_v, after_v)
    frozen = [p for m in vars(loss._fn).values() if isinstance(m, torch.nn.Module) for p in m.parameters()]
    assert all(not p.requires_grad and p.grad is None for p in frozen)


def test_only_differentiable_metrics_become_losses_and_bad_tensors_are_refused():
    with pytest.raises(InputError, match="psnr has no differentiable path") as e:
        create_metric("psnr", as_loss=True)
    assert "ssim" in e.value.hint and "lpips" in e.value.hint
    assert {n for n in METRICS.names() if METRICS.get(n).meta.differentiable} >= {"ssim", "ssim_y", "lpips", "dists"}
    loss = create_metric("ssim", as_loss=True)
    t = torch.rand(1, 3, 16, 16)
    with pytest.raises(InputError, match="differ in shape"):
        loss(t, torch.rand(1, 3, 16, 17))
    with pytest.raises(InputError, match="pred is ndarray"):
        loss(t.numpy(), t)
    with pytest.raises(InputError, match="torch.uint8"):
        loss((t * 255).to(torch.uint8), t)
    with pytest.raises(InputError, match="4 channels"):
        loss(torch.rand(1, 4, 16, 16), torch.rand(1, 4, 16, 16))


def test_docstring_example_runs():
    import iqa_bench.metrics.loss as module

    assert doctest.testmod(module).failed == 0

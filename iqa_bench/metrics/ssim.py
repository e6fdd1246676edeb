"""SSIM with the conventions of the SR literature (BasicSR ``calculate_ssim``, Wang et al. 2004).

Gaussian window 11x11, sigma 1.5, K1 = 0.01, K2 = 0.03, data range 1, 'valid' filtering (no padding),
no automatic downsampling; RGB = mean of the per-channel SSIMs.

Why not ``skimage.metrics.structural_similarity``: with ``gaussian_weights=True`` it pads and crops
differently and applies a sample-covariance correction (``use_sample_covariance``), so it does not
reproduce the published numbers; piq's ``ssim`` downsamples large images by default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from iqa_bench._parallel import cpu_count, parallel_map
from iqa_bench.data.colour import luma, luma_torch
from iqa_bench.metrics._planes import NumpyPlanes
from iqa_bench.metrics.base import MetricInfo, check_pair
from iqa_bench.registry import Registry

if TYPE_CHECKING:
    import torch

_RADIUS = 5
_SIGMA = 1.5
_C1 = 0.01**2
_C2 = 0.03**2


def _gaussian_1d() -> np.ndarray:
    x = np.arange(-_RADIUS, _RADIUS + 1, dtype=np.float64)
    g = np.exp(-(x * x) / (2 * _SIGMA * _SIGMA))
    return g / g.sum()


_WINDOW = _gaussian_1d()


def _filter_valid(img: np.ndarray) -> np.ndarray:
    """The separable Gaussian window over ``img``, 'valid' region only."""
    return NumpyPlanes.filt(img, _WINDOW)


def _ssim_map(a: Any, b: Any, filt: Callable[[Any], Any]) -> Any:
    """The SSIM map of ``a`` and ``b`` with the local means taken by ``filt``: one formula for numpy
    arrays (scoring) and torch tensors (the differentiable path)."""
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a * mu_a
    var_b = filt(b * b) - mu_b * mu_b
    cov = filt(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + _C1) * (2 * cov + _C2)
    den = (mu_a * mu_a + mu_b * mu_b + _C1) * (var_a + var_b + _C2)
    return num / den


def _ssim_map_sum(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of the 'valid' SSIM map of one channel (or one band of rows of it)."""
    return float(np.sum(_ssim_map(a, b, _filter_valid)))


def _bands(rows: int, parts: int) -> list[tuple[int, int]]:
    """Input row ranges whose 'valid' outputs tile the ``rows - 2R`` output rows exactly once."""
    out = rows - 2 * _RADIUS
    edges = np.linspace(0, out, min(parts, out) + 1).astype(int)
    return [(int(lo), int(hi) + 2 * _RADIUS) for lo, hi in zip(edges[:-1], edges[1:])]


def _channel_means(sr: np.ndarray, hr: np.ndarray) -> list[float]:
    # scipy's filters release the GIL: channels x bands of rows run on the shared pool (the maps of
    # a band are independent of the other bands because each band carries its 2R-row halo).
    h, w, c = sr.shape
    if min(h, w) < 2 * _RADIUS + 1:
        raise ValueError(f"ssim needs images of at least 11x11 pixels after cropping, got {(h, w)}")
    tasks = [(ch, lo, hi) for ch in range(c) for lo, hi in _bands(h, cpu_count())]
    sums = parallel_map(lambda t: _ssim_map_sum(sr[t[1]:t[2], :, t[0]], hr[t[1]:t[2], :, t[0]]), tasks)
    count = (h - 2 * _RADIUS) * (w - 2 * _RADIUS)
    return [sum(s for (ch, _, _), s in zip(tasks, sums) if ch == k) / count for k in range(c)]


def ssim(sr: np.ndarray, hr: np.ndarray) -> float:
    """Mean SSIM over the channels given (RGB: per-channel SSIM averaged)."""
    check_pair(sr, hr, "ssim")
    sr64, hr64 = np.asarray(sr, dtype=np.float64), np.asarray(hr, dtype=np.float64)
    return float(np.mean(_channel_means(sr64, hr64)))


def ssim_y(sr: np.ndarray, hr: np.ndarray) -> float:
    """SSIM on BT.601 limited-range luma (float); a grey image on its grey values."""
    check_pair(sr, hr, "ssim_y")
    return ssim(luma(sr), luma(hr))


def ssim_torch(pred: "torch.Tensor", target: "torch.Tensor") -> "torch.Tensor":
    """Per-image SSIM of ``(N, C, H, W)`` tensors on [0, 1], with the conventions of :func:`ssim`
    (Gaussian 11/1.5, K = (0.01, 0.03), 'valid', channels averaged), differentiable; ``(N,)``."""
    import torch.nn.functional as F

    c = pred.shape[1]
    if min(pred.shape[2:]) < 2 * _RADIUS + 1:
        raise ValueError(f"ssim needs images of at least 11x11 pixels, got {tuple(pred.shape[2:])}")
    g = pred.new_tensor(_WINDOW)
    rows, cols = g.view(1, 1, -1, 1).expand(c, 1, -1, 1), g.view(1, 1, 1, -1).expand(c, 1, 1, -1)

    def filt(x: "torch.Tensor") -> "torch.Tensor":  # separable, no padding: the 'valid' region
        return F.conv2d(F.conv2d(x, rows, groups=c), cols, groups=c)

    return _ssim_map(pred, target, filt).mean(dim=(1, 2, 3))  # channels have equal sizes: the mean of their means


class SSIM:
    """``ssim`` / ``ssim_y`` as a metric object: the numpy path for scoring, :meth:`torch_value` for
    gradients (both with the same conventions)."""

    def __init__(self, y: bool) -> None:
        self.y = y

    def __call__(self, sr: np.ndarray, hr: np.ndarray) -> float:
        return ssim_y(sr, hr) if self.y else ssim(sr, hr)

    def torch_value(self, pred: "torch.Tensor", target: "torch.Tensor") -> "torch.Tensor":
        if self.y:
            pred, target = luma_torch(pred), luma_torch(target)
        return ssim_torch(pred, target)


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``ssim`` and ``ssim_y``."""
    common = dict(kind="fr", higher_is_better=True, value_range=(-1.0, 1.0), crop="scale", equivalence_margin=0.001,
                  differentiable=True, precision="float64")
    reg.register(
        "ssim",
        lambda: SSIM(y=False),
        MetricInfo(colour="rgb", description="Gaussian 11/1.5, K=(0.01,0.03), valid, no downsampling; "
                   "mean of per-channel SSIM", **common),
    )
    reg.register(
        "ssim_y",
        lambda: SSIM(y=True),
        MetricInfo(colour="y_bt601", description="SSIM (as ssim) on unrounded BT.601 Y; grey as is", **common),
    )

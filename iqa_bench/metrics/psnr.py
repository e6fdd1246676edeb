"""PSNR on RGB and on BT.601 luma, per image on [0, 1] (BasicSR ``calculate_psnr``)."""

from __future__ import annotations

import warnings

import numpy as np

from iqa_bench.data.colour import BT601_LUMA_WEIGHTS
from iqa_bench.metrics.base import MetricInfo, check_pair
from iqa_bench.registry import Registry


def psnr(sr: np.ndarray, hr: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, data range 1.

    Computed on all channels given (an RGB image: one MSE over R, G and B). Identical images give
    ``+inf``, which callers report and count rather than average.
    """
    check_pair(sr, hr, "psnr")
    sse = _sum_squared_difference(np.asarray(sr, dtype=np.float64), np.asarray(hr, dtype=np.float64))
    return _decibels(sse / sr.size)


def _decibels(mse: float) -> float:
    return float("inf") if mse == 0.0 else float(10.0 * np.log10(1.0 / mse))


_BLOCK = 1 << 16  # values per block: the difference stays in cache instead of a new image-sized array


def _sum_squared_difference(a: np.ndarray, b: np.ndarray, weights: tuple[float, ...] | None = None) -> float:
    """``sum((a - b)^2)`` of two equal-shape float64 ``(H, W, C)`` arrays (cropped views welcome);
    with channel ``weights``, of ``sum_c w_c (a_c - b_c)`` per pixel instead (a luma difference).

    Blockwise over rows into one reused buffer, in torch's vectorised kernels: 2x faster than numpy's
    ``(a - b)`` plus a dot product on a Set14-sized image (0.75 vs 1.45 ms), which paid for a fresh
    image-sized array every call. Float64 throughout; only the summation order differs (last bit).
    """
    import torch

    if not all(s > 0 for s in a.strides + b.strides):  # torch.from_numpy takes positive strides only
        a, b = a.copy(), b.copy()  # (ascontiguousarray keeps a flipped view whose flags say contiguous)
    with warnings.catch_warnings():  # read-only inputs (e.g. cached images) are only read here
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        x, y = torch.from_numpy(a), torch.from_numpy(b)
    rows = max(1, _BLOCK // max(1, a[0].size))
    buf = torch.empty((min(rows, a.shape[0]), *a.shape[1:]), dtype=torch.float64)
    total = 0.0
    for i in range(0, a.shape[0], rows):
        d = torch.sub(x[i:i + rows], y[i:i + rows], out=buf[:min(rows, a.shape[0] - i)])
        if weights is not None:  # element-wise, in a fixed order: the same bits for any memory layout
            d = sum(w * d[..., c] for c, w in enumerate(weights))
        d = d.reshape(-1)
        total += float(torch.dot(d, d))
    return total


def psnr_y(sr: np.ndarray, hr: np.ndarray) -> float:
    """PSNR on BT.601 limited-range luma (float, not rounded); a grey image on its grey values."""
    check_pair(sr, hr, "psnr_y")
    # RGB: the luma difference directly (its 16/255 offsets cancel), no two luma images to allocate;
    # a grey image: its own values (as luma() keeps them)
    weights = BT601_LUMA_WEIGHTS if sr.shape[2] == 3 else None
    sse = _sum_squared_difference(np.asarray(sr, dtype=np.float64), np.asarray(hr, dtype=np.float64), weights)
    return _decibels(sse / (sr.shape[0] * sr.shape[1]))


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``psnr`` and ``psnr_y``."""
    common = dict(kind="fr", higher_is_better=True, value_range=(0.0, float("inf")), crop="scale",
                  equivalence_margin=0.05, precision="float64")  # dB
    reg.register(
        "psnr",
        lambda: psnr,
        MetricInfo(colour="rgb", description="10 log10(1/MSE) over R,G,B on [0,1]; per image", **common),
    )
    reg.register(
        "psnr_y",
        lambda: psnr_y,
        MetricInfo(
            colour="y_bt601",
            description="PSNR on Y = (16 + 65.481R + 128.553G + 24.966B)/255, unrounded; grey as is",
            **common,
        ),
    )

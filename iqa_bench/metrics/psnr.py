"""PSNR on RGB and on BT.601 luma, per image on [0, 1] (BasicSR ``calculate_psnr``)."""

from __future__ import annotations

import numpy as np

from iqa_bench.data.colour import luma
from iqa_bench.metrics.base import MetricInfo, check_pair
from iqa_bench.registry import Registry


def psnr(sr: np.ndarray, hr: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, data range 1.

    Computed on all channels given (an RGB image: one MSE over R, G and B). Identical images give
    ``+inf``, which callers report and count rather than average.
    """
    check_pair(sr, hr, "psnr")
    diff = (np.asarray(sr, dtype=np.float64) - np.asarray(hr, dtype=np.float64)).ravel()
    mse = float(np.dot(diff, diff)) / diff.size  # one BLAS pass instead of square + mean
    return float("inf") if mse == 0.0 else float(10.0 * np.log10(1.0 / mse))


def psnr_y(sr: np.ndarray, hr: np.ndarray) -> float:
    """PSNR on BT.601 limited-range luma (float, not rounded); a grey image on its grey values."""
    check_pair(sr, hr, "psnr_y")
    return psnr(luma(sr), luma(hr))


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

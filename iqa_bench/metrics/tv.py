"""Total variation per pixel, a no-reference smoothness measure (not a quality score on its own)."""

from __future__ import annotations

import numpy as np

from iqa_bench.metrics.base import MetricInfo
from iqa_bench.registry import Registry


def total_variation(img: np.ndarray) -> float:
    """Anisotropic total variation per pixel: mean |dx| + mean |dy| over all channels, [0, 1] units.

    Written with numpy rather than ``piq.total_variation``, whose value is a sum over the image and
    so grows with image size; a per-pixel mean is comparable across images.
    """
    x = img.astype(np.float64, copy=False)
    return float(np.abs(np.diff(x, axis=1)).mean() + np.abs(np.diff(x, axis=0)).mean())


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``tv``."""
    reg.register(
        "tv",
        lambda: total_variation,
        MetricInfo(
            kind="nr",
            higher_is_better=False,
            value_range=(0.0, 2.0),
            colour="rgb (grey as is)",
            crop="scale",
            description="total variation per pixel, mean|dx| + mean|dy| on [0,1]: smoothness/noise, not quality alone",
            precision="float64",
        ),
    )

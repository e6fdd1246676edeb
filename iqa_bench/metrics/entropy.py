"""Entropy of the grey-level histogram (MATLAB ``entropy``), a no-reference measure of information.

``-sum(p * log2(p))`` over the 256-bin histogram of the 8-bit grey image, in bits (0 for a flat
image, 8 when all grey levels are equally frequent). As MATLAB computes it for an RGB file: the
image is converted with ``rgb2gray`` and rounded to uint8 first; a grey image is used as it is.

Reproduces the values MATLAB gives for IQA-PyTorch's calibration images (test: 4 decimals).
"""

from __future__ import annotations

import numpy as np

from iqa_bench.data.colour import grey_uint8_matlab
from iqa_bench.metrics.base import MetricInfo
from iqa_bench.registry import Registry


def entropy(img: np.ndarray) -> float:
    """Shannon entropy in bits of the 8-bit grey histogram of float ``(H, W, C)`` [0, 1] ``img``."""
    counts = np.bincount(grey_uint8_matlab(img).astype(np.int64).ravel(), minlength=256)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``entropy``."""
    reg.register(
        "entropy",
        lambda: entropy,
        MetricInfo(
            kind="nr",
            higher_is_better=True,
            value_range=(0.0, 8.0),
            colour="grey, MATLAB rgb2gray rounded to uint8; grey as is",
            crop="scale",
            description="entropy (bits) of the 256-bin grey histogram, MATLAB entropy()",
            precision="float64",
        ),
    )

"""MDSI, the mean deviation similarity index (Nafchi et al. 2016); lower is better, 0 for equal images.

Conventions, those of piq's ``mdsi`` (from the authors' MATLAB code): images on 0..255, a grey image
copied to three channels; averaged in ``k x k`` blocks with ``k = max(1, round(min(H, W) / 256))``
(zero padding ``(k - 1) // 2`` before and ``k // 2`` after); LHM colour space (L = 0.2989 R + 0.587 G
+ 0.114 B); Prewitt gradient magnitudes of each L and of their mean, gradient similarity with ``C1 =
140`` and ``C2 = 55``, chroma similarity with ``C3 = 550``, combined by sum with ``alpha = 0.6``;
deviation pooling with ``q = o = 0.25``, ``rho = 1``. Float32.

Written here around piq's building blocks instead of calling ``piq.mdsi`` (whose value it equals,
tested): the engine scores every model's output against the same HR image, so the HR image's pooled
LHM image and gradient map are computed once (``MDSI.reference``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from iqa_bench.metrics._torch import (
    FeatureMetric, as_tensor, block_average, gradient_kernels, ieee_fp32, resolve_device,
)
from iqa_bench.metrics.base import MetricInfo
from iqa_bench.registry import Registry

C1, C2, C3, ALPHA, RHO, Q, O = 140.0, 55.0, 550.0, 0.6, 1.0, 0.25, 0.25


class MDSI(FeatureMetric):
    """``metric(sr, hr) -> float`` on ``(H, W, C)`` float images on [0, 1], C = 1 or 3."""

    name = "mdsi"

    def __init__(self, device: str | None = "cpu") -> None:
        self.device = resolve_device(device)
        self.kernels = gradient_kernels("prewitt", self.device)

    def features(self, img: np.ndarray) -> tuple[Any, Any]:
        """The block-averaged LHM image ``(1, 3, h, w)`` and its L channel's gradient magnitude."""
        from piq.functional import gradient_map, rgb2lhm

        x = block_average(as_tensor(img, rgb=True, device=self.device) * 255)
        with ieee_fp32():
            lhm = rgb2lhm(x)
            return lhm, gradient_map(lhm[:, :1], self.kernels)

    def score(self, sr_features: tuple[Any, Any], hr_features: tuple[Any, Any]) -> float:
        from piq.functional import gradient_map, pow_for_complex, similarity_map

        (x, gm_x), (y, gm_y) = sr_features, hr_features
        with ieee_fp32():
            gm_avg = gradient_map((x[:, :1] + y[:, :1]) / 2.0, self.kernels)
        gs = similarity_map(gm_x, gm_y, C1) + similarity_map(gm_x, gm_avg, C2) - similarity_map(gm_y, gm_avg, C2)
        cs = (2 * (x[:, 1:2] * y[:, 1:2] + x[:, 2:] * y[:, 2:]) + C3) / (
            x[:, 1:2] ** 2 + y[:, 1:2] ** 2 + x[:, 2:] ** 2 + y[:, 2:] ** 2 + C3)
        gcs = pow_for_complex(ALPHA * gs + (1 - ALPHA) * cs, Q)
        mean = gcs.mean(dim=2, keepdim=True).mean(dim=3, keepdim=True)  # in two steps, as piq (precision)
        deviation = (gcs - mean).pow(2).sum(dim=-1).sqrt()
        return float((deviation**RHO).mean(dim=(-1, -2)) ** (O / RHO))


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``mdsi``."""
    reg.register(
        "mdsi",
        lambda device="cpu": MDSI(device),
        MetricInfo(
            kind="fr",
            higher_is_better=False,
            value_range=(0.0, float("inf")),
            colour="rgb -> LHM (authors' MATLAB); grey copied to RGB",
            crop="scale",
            description="MDSI (Nafchi 2016), sum combination, q=o=0.25, built-in avg-pool by round(min(H,W)/256) "
                        "(piq's conventions, float32)",
            devices=("cpu", "cuda"),
            precision="float32",
        ),
    )

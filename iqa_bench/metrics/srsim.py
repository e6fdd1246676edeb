"""SR-SIM, the spectral-residual-based similarity index (Zhang & Li 2012); higher is better, on [0, 1].

Conventions, those of piq's ``srsim`` (from the authors' MATLAB code): images on 0..255, averaged in
``k x k`` blocks with ``k = max(1, round(min(H, W) / 256))`` (zero padding ``(k - 1) // 2`` before and
``k // 2`` after); an RGB image reduced to its full-range YIQ luma ``Y = 0.299 R + 0.587 G + 0.114 B``,
a grey image used as it is; the luma's spectral-residual saliency (piq's own function: a quarter-size
MATLAB-bicubic copy, 3x3 average of the log amplitude, a 10x10 Gaussian of sigma 3.8, normalised to
[0, 1] and resized back) and its Scharr gradient magnitude; similarities with ``C1 = 0.40`` (saliency)
and ``C2 = 225`` (gradient), ``alpha = 0.5``, pooled with the larger saliency as the weight. Luma only
(piq's default, not the chromatic variant). Float32.

Written here around piq's building blocks instead of calling ``piq.srsim`` (whose value it equals,
tested): the engine scores every model's output against the same HR image, so the HR image's saliency
and gradient maps are computed once (``SRSIM.reference``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from iqa_bench.data.colour import yiq_luma_torch
from iqa_bench.metrics._torch import (
    FeatureMetric, as_tensor, block_average, gradient_kernels, ieee_fp32, resolve_device,
)
from iqa_bench.metrics.base import YIQ_COLOUR, MetricInfo
from iqa_bench.registry import Registry

C1, C2, ALPHA = 0.40, 225.0, 0.50


class SRSIM(FeatureMetric):
    """``metric(sr, hr) -> float`` on ``(H, W, C)`` float images on [0, 1], C = 1 or 3."""

    name = "srsim"
    min_side = 40  # piq's saliency needs a quarter-size copy at least as wide as its 10x10 Gaussian

    def __init__(self, device: str | None = "cpu") -> None:
        self.device = resolve_device(device)
        self.kernels = gradient_kernels("scharr", self.device)

    def features(self, img: np.ndarray) -> tuple[Any, Any]:
        """The (block-averaged) luma's saliency and gradient magnitude maps, 0..255 units, float32."""
        from piq.functional import gradient_map
        from piq.srsim import _spectral_residual_visual_saliency

        y = yiq_luma_torch(block_average(as_tensor(img, device=self.device) * 255))
        with ieee_fp32():
            return _spectral_residual_visual_saliency(y), gradient_map(y, self.kernels)

    def score(self, sr_features: tuple[Any, Any], hr_features: tuple[Any, Any]) -> float:
        import torch

        (sal, grad), (sal_ref, grad_ref) = sr_features, hr_features
        weight = torch.maximum(sal, sal_ref)
        sim = (2 * sal * sal_ref + C1) / (sal**2 + sal_ref**2 + C1)
        sim = sim * ((2 * grad * grad_ref + C2) / (grad**2 + grad_ref**2 + C2)) ** ALPHA
        eps = torch.finfo(sim.dtype).eps
        return float((sim * weight).sum() / (weight.sum() + eps))


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``srsim``."""
    reg.register(
        "srsim",
        lambda device="cpu": SRSIM(device),
        MetricInfo(
            kind="fr",
            higher_is_better=True,
            value_range=(0.0, 1.0),
            colour=YIQ_COLOUR,
            crop="scale",
            description="SR-SIM (Zhang 2012), spectral-residual saliency, built-in avg-pool by round(min(H,W)/256) "
                        "(piq's conventions and saliency, float32)",
            devices=("cpu", "cuda"),
            precision="float32",
        ),
    )

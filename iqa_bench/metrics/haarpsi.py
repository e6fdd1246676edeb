"""HaarPSI, the Haar wavelet-based perceptual similarity index (Reisenhofer, Bosse, Kutyniok & Wiegand
2018); higher is better, on [0, 1].

Conventions, those of piq's ``haarpsi`` (from the authors' code): images on 0..255; an RGB image in
full-range YIQ (``Y = 0.299 R + 0.587 G + 0.114 B``, ``I = 0.5959 R - 0.2746 G - 0.3213 B``,
``Q = 0.2115 R - 0.5227 G + 0.3112 B``), a grey image as it is (luma only); a 2x2 average keeping every
second pixel (an odd side zero-padded at the bottom or right); Haar responses of the luma at three
scales (filters 2, 4 and 8 wide, horizontal and vertical, zero padding ``k/2 - 1`` before and ``k/2``
after); the similarity ``(2 a b + C) / (a^2 + b^2 + C)``, ``C = 30``, of the two finer scales'
magnitudes, weighted by the larger of the two images' coarsest-scale magnitudes; for RGB also the
similarity of I and Q's 2x2 means (stride 1, zero-padded), weighted by the mean weight; logistic
pooling with ``alpha = 4.2``, then ``(logit(score) / alpha)^2``. Float32.

Written here instead of calling ``piq.haarpsi`` (whose value it equals, tested): the engine scores
every model's output against the same HR image, so the HR image's Haar responses and chroma means are
computed once (``HaarPSI.reference``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from iqa_bench.data.colour import yiq_torch
from iqa_bench.metrics._torch import FeatureMetric, as_tensor, ieee_fp32, resolve_device
from iqa_bench.metrics.base import MetricInfo
from iqa_bench.registry import Registry

C = 30.0
ALPHA = 4.2
SCALES = 3


class HaarPSI(FeatureMetric):
    """``metric(sr, hr) -> float`` on ``(H, W, C)`` float images on [0, 1], C = 1 or 3."""

    name = "haarpsi"
    min_side = 2 ** (SCALES + 1)

    def __init__(self, device: str | None = "cpu") -> None:
        import torch

        self.device = resolve_device(device)
        self.kernels = []
        for scale in range(SCALES):
            k = 2 ** (scale + 1)
            h = torch.full((k, k), 1.0 / k)
            h[k // 2:] *= -1  # rows: + over the top half, - over the bottom half
            self.kernels.append(torch.stack([h, h.T])[:, None].to(self.device))  # (2, 1, k, k)

    def features(self, img: np.ndarray) -> tuple[Any, Any | None]:
        """The Haar response magnitudes of the (subsampled) luma ``(1, 2 * SCALES, H', W')`` and, for
        RGB, the absolute 2x2 means of I and Q ``(1, 2, H', W')``; 0..255 units, float32."""
        import torch
        import torch.nn.functional as F

        x = as_tensor(img, device=self.device) * 255
        yiq = yiq_torch(x) if x.shape[1] == 3 else x
        odd = max(yiq.shape[2] % 2, yiq.shape[3] % 2)
        yiq = F.avg_pool2d(F.pad(yiq, [0, odd, 0, odd]), kernel_size=2, stride=2)
        with ieee_fp32():
            coeffs = torch.cat([F.conv2d(F.pad(yiq[:, :1], [k.shape[-1] // 2 - 1, k.shape[-1] // 2] * 2), k)
                                for k in self.kernels], dim=1)
        chroma = None
        if yiq.shape[1] == 3:
            chroma = F.avg_pool2d(F.pad(yiq[:, 1:], [0, 1, 0, 1]), kernel_size=2, stride=1).abs()
        return coeffs.abs(), chroma

    def score(self, sr_features: tuple[Any, Any | None], hr_features: tuple[Any, Any | None]) -> float:
        import torch

        (mag, chroma), (mag_ref, chroma_ref) = sr_features, hr_features
        weights = [torch.maximum(mag[:, 4:], mag_ref[:, 4:])]
        sims = [_similarity(mag[:, (o, o + 2)], mag_ref[:, (o, o + 2)]) for o in range(2)]
        if chroma is not None:
            weights.append(weights[0].mean(dim=1, keepdim=True))
            sims.append(_similarity(chroma, chroma_ref))
        w, sim = torch.cat(weights, dim=1), torch.cat(sims, dim=1)
        eps = torch.finfo(sim.dtype).eps
        score = ((torch.sigmoid(sim * ALPHA) * w).sum() + eps) / (w.sum() + eps)
        return float((torch.log(score / (1 - score)) / ALPHA) ** 2)


def _similarity(a: Any, b: Any) -> Any:
    """Mean over the channels of ``(2 a b + C) / (a^2 + b^2 + C)``, keeping a channel axis of 1."""
    return ((2 * a * b + C) / (a**2 + b**2 + C)).sum(dim=1, keepdim=True) / 2


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``haarpsi``."""
    reg.register(
        "haarpsi",
        lambda device="cpu": HaarPSI(device),
        MetricInfo(
            kind="fr",
            higher_is_better=True,
            value_range=(0.0, 1.0),
            colour="yiq (Y, I and Q); grey: luma only",
            crop="scale",
            description="HaarPSI (Reisenhofer 2018), 3 scales, C=30, alpha=4.2, built-in 2x2 subsampling "
                        "(piq's conventions, float32)",
            devices=("cpu", "cuda"),
            precision="float32",
        ),
    )

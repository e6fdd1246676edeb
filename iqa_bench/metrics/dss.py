"""DSS, the DCT subband similarity index (Balanov, Schwartz, Moshe & Peleg 2015); higher is better, on [0, 1].

Conventions, those of piq's ``dss`` (from the authors' MATLAB code): images on 0..255, an RGB image
reduced to its full-range YIQ luma ``Y = 0.299 R + 0.587 G + 0.114 B`` (a grey image used as it is),
cropped to multiples of 8; the 8x8 block DCT (piq's own function); each subband whose weight
``exp(-((m - 0.5)^2 + (n - 0.5)^2) / (2 * 1.55^2))`` (m, n = 1..8) is at least 0.01 is compared through
local statistics under a 3x3 Gaussian of sigma 1.5: the variance similarity ``(2 s_x s_y + c) /
(s_x^2 + s_y^2 + c)`` (``c = 1000`` for the DC subband, 300 for the others) pooled as the mean of its
lowest 5 %, times, for the DC subband, the same pooling of the structure term ``(s_xy + c) / (s_x s_y +
c)``; the subband scores are averaged with the normalised weights. Float64: in float32 the subband
ratios drift by up to 7e-4 on a grey test image (float64: 4e-8 from MATLAB).

Written here around piq's block DCT instead of calling ``piq.dss`` (whose value it equals, tested): the
engine scores every model's output against the same HR image, so the HR image's DCT subbands and their
local means and variances are computed once (``DSS.reference``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from iqa_bench.metrics._torch import FeatureMetric, resolve_device, yiq_luma_tensor
from iqa_bench.metrics.base import YIQ_COLOUR, MetricInfo
from iqa_bench.registry import Registry

DCT_SIZE, SIGMA_WEIGHT, KERNEL_SIZE, SIGMA_SIMILARITY, PERCENTILE = 8, 1.55, 3, 1.5, 0.05
DC_C, AC_C, WEIGHT_THRESHOLD = 1000.0, 300.0, 1e-2


class DSS(FeatureMetric):
    """``metric(sr, hr) -> float`` on ``(H, W, C)`` float images on [0, 1], C = 1 or 3."""

    name = "dss"
    min_side = DCT_SIZE

    def __init__(self, device: str | None = "cpu") -> None:
        import torch
        from piq.functional import gaussian_filter

        self.device = resolve_device(device)
        coords = (torch.arange(1, DCT_SIZE + 1, dtype=torch.float64) - 0.5) ** 2
        weight = torch.exp(-(coords[None] + coords[:, None]) / (2 * SIGMA_WEIGHT**2))
        self.subbands = [(m, n) for m in range(DCT_SIZE) for n in range(DCT_SIZE)
                         if weight[m, n] >= WEIGHT_THRESHOLD]
        weight[weight < WEIGHT_THRESHOLD] = 0
        eps = torch.finfo(torch.float64).eps
        self.weights = [float(weight[m, n] / weight.sum() + eps) for m, n in self.subbands]
        self.kernel = gaussian_filter(KERNEL_SIZE, SIGMA_SIMILARITY, dtype=torch.float64).view(
            1, 1, KERNEL_SIZE, KERNEL_SIZE).to(self.device)

    def features(self, img: np.ndarray) -> list[tuple[Any, Any, Any]]:
        """Per kept subband: its DCT coefficients, their local mean and local variance (float64)."""
        import torch
        import torch.nn.functional as F
        from piq.dss import _dct_decomp

        y = yiq_luma_tensor(img, device=self.device, dtype=torch.float64) * 255
        rows, cols = (s - s % DCT_SIZE for s in y.shape[-2:])
        dct = _dct_decomp(y[:, :, :rows, :cols], DCT_SIZE)
        out = []  # float64 throughout: TF32 never applies
        for m, n in self.subbands:
            band = dct[:, :, m::DCT_SIZE, n::DCT_SIZE]
            mu = F.conv2d(band, self.kernel, padding=KERNEL_SIZE // 2)
            var = (F.conv2d(band * band, self.kernel, padding=KERNEL_SIZE // 2) - mu**2).clamp_min(0)
            out.append((band, mu, var))
        return out

    def score(self, sr_features: list[tuple[Any, Any, Any]], hr_features: list[tuple[Any, Any, Any]]) -> float:
        import torch
        import torch.nn.functional as F

        total = 0.0
        for (m, n), w, (x, mu_x, var_x), (y, mu_y, var_y) in zip(self.subbands, self.weights, sr_features,
                                                               hr_features):
            dc = m == 0 and n == 0
            c = DC_C if dc else AC_C
            sd = torch.sqrt(var_x * var_y)
            sim = _lowest_mean((2 * sd + c) / (var_x + var_y + c))
            if dc:
                cov = F.conv2d(x * y, self.kernel, padding=KERNEL_SIZE // 2) - mu_x * mu_y
                sim = sim * _lowest_mean((cov + c) / (sd + c))
            total += float(sim) * w
        return total


def _lowest_mean(values: Any) -> Any:
    """The mean of the lowest ``PERCENTILE`` of the values (``round`` of the count, as the MATLAB code),
    in ascending order: the k smallest by a partial selection rather than a full sort."""
    import torch

    flat = values.flatten()
    k = round(PERCENTILE * flat.numel())
    return torch.topk(flat, k, largest=False, sorted=True).values.mean()


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``dss``."""
    reg.register(
        "dss",
        lambda device="cpu": DSS(device),
        MetricInfo(
            kind="fr",
            higher_is_better=True,
            value_range=(0.0, 1.0),
            colour=YIQ_COLOUR,
            crop="scale",
            description="DSS (Balanov 2015), DCT 8x8 subband similarity (piq's conventions and block DCT, float64)",
            devices=("cpu", "cuda"),
            precision="float64",
        ),
    )

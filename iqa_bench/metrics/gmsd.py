"""GMSD, gradient magnitude similarity deviation (Xue, Zhang, Mou & Bovik 2014); lower is better.

Conventions, those of piq's ``gmsd`` (from the authors' MATLAB code): an RGB image is reduced to its
full-range YIQ luma ``Y = 0.299 R + 0.587 G + 0.114 B`` (a grey image is used as it is); then a 2x2
average keeping every second pixel (an odd side zero-padded at the bottom or right), Prewitt
gradients with zero padding, the similarity map ``(2 g1 g2 + T) / (g1^2 + g2^2 + T)`` with
``T = 170 / 255^2`` on [0, 1] images, and its standard deviation (population, 1/N). Float32.

Written here instead of calling ``piq.gmsd`` (whose value it equals, tested): the engine scores
every model's output against the same HR image, so the HR image's gradient map is computed once
(``GMSD.reference``), and the luma is taken before the tensor conversion, so one channel is
converted instead of three.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from iqa_bench.data.colour import yiq_luma_torch
from iqa_bench.metrics._torch import FeatureMetric, ieee_fp32, resolve_device
from iqa_bench.metrics.base import MetricInfo
from iqa_bench.metrics.piq_metrics import YIQ_COLOUR
from iqa_bench.registry import Registry

T = 170 / 255**2


class GMSD(FeatureMetric):
    """``metric(sr, hr) -> float`` on ``(H, W, C)`` float images on [0, 1], C = 1 or 3."""

    name = "gmsd"

    def __init__(self, device: str | None = "cpu") -> None:
        import torch

        self.device = resolve_device(device)
        dx = torch.tensor([[-1.0, 0.0, 1.0]] * 3) / 3
        self.kernels = torch.stack([dx, dx.T])[:, None].to(self.device)  # (2, 1, 3, 3): d/dx, d/dy

    def features(self, img: np.ndarray) -> Any:
        """The gradient magnitude map of the (subsampled) luma, float32."""
        import torch
        import torch.nn.functional as F

        # luma in float64 from the numpy image (a strided view, no copy), then one channel to float32
        y = yiq_luma_torch(torch.from_numpy(img).permute(2, 0, 1)[None]).to(self.device, torch.float32)
        odd = max(y.shape[2] % 2, y.shape[3] % 2)
        y = F.avg_pool2d(F.pad(y, [0, odd, 0, odd]), kernel_size=2, stride=2)
        with ieee_fp32():
            g = F.conv2d(y, self.kernels, padding=1)
        return torch.sqrt((g**2).sum(dim=1, keepdim=True))

    def score(self, g: Any, g_ref: Any) -> float:
        import torch

        gms = (2 * g * g_ref + T) / (g**2 + g_ref**2 + T)
        return float(torch.sqrt(((gms - gms.mean()) ** 2).mean()))


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``gmsd``."""
    reg.register(
        "gmsd",
        lambda device="cpu": GMSD(device),
        MetricInfo(
            kind="fr",
            higher_is_better=False,
            value_range=(0.0, 1.0),
            colour=YIQ_COLOUR,
            crop="scale",
            description="GMSD (Xue 2014), Prewitt, T=170/255^2, built-in 2x2 avg-pool (piq's conventions, float32)",
            devices=("cpu", "cuda"),
            precision="float32",
        ),
    )

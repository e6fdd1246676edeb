"""GMSD, gradient magnitude similarity deviation (Xue, Zhang, Mou & Bovik 2014), and its multi-scale
form MS-GMSD (Zhang, Zhang, Mou & Bovik 2017); lower is better.

Conventions, those of piq's ``gmsd`` (from the authors' MATLAB code): an RGB image is reduced to its
full-range YIQ luma ``Y = 0.299 R + 0.587 G + 0.114 B`` (a grey image is used as it is); then a 2x2
average keeping every second pixel (an odd side zero-padded at the bottom or right), Prewitt
gradients with zero padding, the similarity map ``(2 g1 g2 + T) / (g1^2 + g2^2 + T)`` with
``T = 170 / 255^2`` on [0, 1] images, and its standard deviation (population, 1/N). Float32.

Written here instead of calling ``piq.gmsd`` (whose value it equals, tested): the engine scores
every model's output against the same HR image, so the HR image's gradient map is computed once
(``GMSD.reference``), and the luma is taken before the tensor conversion, so one channel is
converted instead of three.

MS-GMSD, piq's ``multi_scale_gmsd`` conventions (luma only, its default): the same luma on 0..255, at
four scales (the image, then successive 2x2 averages, odd sides zero-padded), Prewitt gradient
magnitudes, the masked similarity ``(2 g1 g2 - a g1 g2 + t) / (g1^2 + g2^2 - a g1 g2 + t)`` with
``t = 170``, ``a = 0.5``, each scale's deviation squared and weighted 0.096 / 0.596 / 0.289 / 0.019,
the square root of the sum. Float32; the HR image's four gradient maps computed once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from iqa_bench.metrics._torch import FeatureMetric, ieee_fp32, resolve_device, yiq_luma_tensor
from iqa_bench.metrics.base import YIQ_COLOUR, MetricInfo
from iqa_bench.registry import Registry

T = 170 / 255**2
MS_WEIGHTS = (0.096, 0.596, 0.289, 0.019)
MS_T, MS_MASK = 170.0, 0.5


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
        import torch.nn.functional as F

        y = yiq_luma_tensor(img, device=self.device)
        odd = max(y.shape[2] % 2, y.shape[3] % 2)
        y = F.avg_pool2d(F.pad(y, [0, odd, 0, odd]), kernel_size=2, stride=2)
        return _gradient_magnitude(y, self.kernels)

    def score(self, g: Any, g_ref: Any) -> float:
        import torch

        gms = (2 * g * g_ref + T) / (g**2 + g_ref**2 + T)
        return float(torch.sqrt(((gms - gms.mean()) ** 2).mean()))


class MultiScaleGMSD(GMSD):
    """MS-GMSD: ``metric(sr, hr) -> float`` on ``(H, W, C)`` float images on [0, 1], C = 1 or 3."""

    name = "ms_gmsd"
    min_side = 2 ** len(MS_WEIGHTS) + 1

    def features(self, img: np.ndarray) -> list[Any]:
        """The luma's gradient magnitude maps at the four scales, 0..255 units, float32."""
        import torch.nn.functional as F

        y = yiq_luma_tensor(img, device=self.device) * 255
        maps = []
        for scale in range(len(MS_WEIGHTS)):
            if scale:
                odd = max(y.shape[2] % 2, y.shape[3] % 2)
                y = F.avg_pool2d(F.pad(y, [0, odd, 0, odd]), kernel_size=2)
            maps.append(_gradient_magnitude(y, self.kernels))
        return maps

    def score(self, gs: list[Any], gs_ref: list[Any]) -> float:  # type: ignore[override]
        import torch

        deviations = []
        for g, r in zip(gs, gs_ref):
            gr = MS_MASK * g * r
            gms = (2 * g * r - gr + MS_T) / (g**2 + r**2 - gr + MS_T)
            deviations.append(torch.sqrt(((gms - gms.mean()) ** 2).mean()))
        weights = torch.tensor(MS_WEIGHTS, dtype=deviations[0].dtype, device=deviations[0].device)
        return float(torch.sqrt((weights * torch.stack(deviations) ** 2).sum()))


def _gradient_magnitude(y: Any, kernels: Any) -> Any:
    """``sqrt(gx^2 + gy^2)`` of an ``(N, 1, H, W)`` tensor, Prewitt ``kernels`` with zero padding."""
    import torch
    import torch.nn.functional as F

    with ieee_fp32():
        g = F.conv2d(y, kernels, padding=1)
    return torch.sqrt((g**2).sum(dim=1, keepdim=True))


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``gmsd`` and ``ms_gmsd``."""
    for name, cls, what in (
        ("gmsd", GMSD, "GMSD (Xue 2014), Prewitt, T=170/255^2, built-in 2x2 avg-pool"),
        ("ms_gmsd", MultiScaleGMSD, "MS-GMSD (Zhang 2017), 4 scales, luma only"),
    ):
        reg.register(
            name,
            lambda device="cpu", cls=cls: cls(device),
            MetricInfo(
                kind="fr",
                higher_is_better=False,
                value_range=(0.0, 1.0),
                colour=YIQ_COLOUR,
                crop="scale",
                description=f"{what} (piq's conventions, float32)",
                devices=("cpu", "cuda"),
                precision="float32",
            ),
        )

"""VIF in the pixel domain, VIF-P (Sheikh & Bovik 2006); higher is better, 1 for equal images, above 1
for a contrast enhancement.

Conventions, those of piq's ``vif_p`` (after the authors' MATLAB ``vifp_mscale``): images on
0..255; an RGB image reduced to the luma 0.299 R + 0.587 G + 0.114 B, a grey image used as it is; four
scales with Gaussian windows of 17, 9, 5 and 3 taps (sigma = taps / 5), 'valid' filtering, each coarser
scale the previous one filtered by its window and subsampled 2:1; the local variances clamped at 0 and
piq's guards for flat regions (a variance below 1e-8 counts as 0); noise variance sigma_n^2 = 2; the value
is the information of the output over that of the reference, summed over the scales. Sides of at
least 41 pixels.

Written here instead of calling ``piq.vif_p`` (whose value it equals, tested) for the same reasons as
MS-SSIM: the HR side's pyramid, local means and variances and its information are made once per HR
image (``VIFP.reference``), and the separable windows run in float64 on the CPU (scipy), in torch float64
on a GPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from iqa_bench.metrics._planes import plane_ops
from iqa_bench.metrics._torch import FeatureMetric, resolve_device
from iqa_bench.metrics.base import YIQ_COLOUR, MetricInfo
from iqa_bench.registry import Registry

SIGMA_N_SQ = 2.0
EPS = 1e-8  # piq's guard: variances below it count as 0
LUMA = np.array([0.299, 0.587, 0.114])


def _window(taps: int) -> np.ndarray:
    """The normalised 1-D Gaussian of ``taps`` taps, sigma = taps / 5 (piq's 2-D window is its outer product)."""
    x = np.arange(taps, dtype=np.float64) - (taps - 1) / 2
    g = np.exp(-(x * x) / (2 * (taps / 5) ** 2))
    return g / g.sum()


WINDOWS = tuple(_window(2 ** (4 - scale) + 1) for scale in range(4))
MIN_SIDE = 41


class VIFP(FeatureMetric):
    """``metric(sr, hr) -> float`` on ``(H, W, C)`` float images on [0, 1], sides >= 41."""

    name = "vif_p"
    min_side = MIN_SIDE

    def __init__(self, device: str | None = "cpu") -> None:
        self.device = resolve_device(device)
        self.ops = plane_ops(self.device)

    def features(self, img: np.ndarray) -> list[tuple[Any, Any, Any]]:
        """Per scale: the luma plane (0..255), its local mean and its local variance (clamped at 0)."""
        xp = self.ops.xp
        a = self.ops.plane((img @ LUMA if img.shape[2] == 3 else img[:, :, 0]) * 255)
        out = []
        for scale, window in enumerate(WINDOWS):
            if scale:
                a = self.ops.filt(a, window)[..., ::2, ::2]
            mu = self.ops.filt(a, window)
            out.append((a, mu, xp.clip(self.ops.filt(a * a, window) - mu * mu, 0, None)))
        return out

    def reference(self, hr: np.ndarray) -> tuple[tuple[int, ...], Any]:
        """The HR image's shape, per-scale features and its information (the denominator)."""
        shape, feats = super().reference(hr)
        xp = self.ops.xp
        info = sum(float(xp.log10(1.0 + xp.where(var >= EPS, var, 0.0) / SIGMA_N_SQ).sum()) for _, _, var in feats)
        return shape, (feats, info)

    def score(self, sr_features: list[tuple[Any, Any, Any]], hr_features: tuple[list, float]) -> float:
        xp = self.ops.xp
        feats, hr_info = hr_features
        sr_info = 0.0
        for (x, mu_x, var_x), (y, mu_y, var_y), window in zip(sr_features, feats, WINDOWS):
            cov = self.ops.filt(x * y, window) - mu_x * mu_y
            # piq's order of guards, kept so that flat regions score as there
            g = cov / (var_y + EPS)
            var_v = var_x - g * cov
            flat_y, flat_x = var_y < EPS, var_x < EPS
            g = xp.where(flat_y, 0.0, g)
            var_v = xp.where(flat_y, var_x, var_v)
            var_y = xp.where(flat_y, 0.0, var_y)
            g = xp.where(flat_x, 0.0, g)
            var_v = xp.where(flat_x, 0.0, var_v)
            var_v = xp.where(g >= 0, var_v, var_x)
            g = xp.clip(g, 0, None)
            var_v = xp.where(var_v > EPS, var_v, EPS)
            sr_info += float(xp.log10(1.0 + g * g * var_y / (var_v + SIGMA_N_SQ)).sum())
        return (sr_info + EPS) / (hr_info + EPS)


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``vif_p``."""
    reg.register(
        "vif_p",
        lambda device="cpu": VIFP(device),
        MetricInfo(
            kind="fr",
            higher_is_better=True,
            value_range=(0.0, float("inf")),
            colour=YIQ_COLOUR,
            crop="scale",
            description="VIF pixel domain (Sheikh & Bovik 2006), sigma_n^2 = 2; > 1 for contrast enhancement "
                        "(piq's conventions, float64)",
            devices=("cpu", "cuda"),
            precision="float64",
        ),
    )

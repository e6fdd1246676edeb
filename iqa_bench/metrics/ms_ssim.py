"""MS-SSIM, the multi-scale structural similarity (Wang, Simoncelli & Bovik 2003); higher is better, 1 for
equal images.

Conventions, those of piq's ``multi_scale_ssim``: data range 1, five scales weighted 0.0448, 0.2856,
0.3001, 0.2363, 0.1333; at each scale the SSIM terms with a Gaussian window 11x11, sigma 1.5, K1 = 0.01,
K2 = 0.03, 'valid' filtering (no padding); the contrast-structure term at the four finer scales and the
full SSIM at the coarsest, each clamped at 0; between scales a 2x2 average after replicating the first
row and column when a side is odd (piq's rule: both sides are padded when either is odd, then the
pooling floors). A colour image is scored per channel, the channels' MS-SSIMs averaged; a grey image as
it is. Sides of at least 161 pixels (the window must fit the coarsest scale).

Written here instead of calling ``piq.multi_scale_ssim`` (whose value it equals, tested) for two
reasons: the engine scores every model's output against the same HR image, so the HR side's pyramid,
local means and variances are made once (``MSSSIM.reference``); and on the CPU the separable window is
applied by scipy in float64 (piq convolves with the full 11x11 window in float32), which is faster and
exact to float64 rounding. On CUDA the same formulas run in torch, float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from iqa_bench._parallel import parallel_map
from iqa_bench.metrics._planes import plane_ops
from iqa_bench.metrics._torch import FeatureMetric, resolve_device
from iqa_bench.metrics.base import MetricInfo
from iqa_bench.metrics.ssim import _C1, _C2, _RADIUS, _WINDOW
from iqa_bench.registry import Registry

SCALE_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MIN_SIDE = 2 * _RADIUS * 2 ** (len(SCALE_WEIGHTS) - 1) + 1

# One scale of one channel: the image, its local mean and its local variance ('valid' region).
_Scale = tuple[Any, Any, Any]


class MSSSIM(FeatureMetric):
    """``metric(sr, hr) -> float`` on ``(H, W, C)`` float images on [0, 1], sides >= 161."""

    name = "ms_ssim"
    min_side = MIN_SIDE

    def __init__(self, device: str | None = "cpu") -> None:
        self.device = resolve_device(device)
        self.ops = plane_ops(self.device)

    def features(self, img: np.ndarray) -> list[list[_Scale]]:
        """Per channel, per scale: the image, its local mean and local variance."""
        return parallel_map(self._pyramid, [img[:, :, c] for c in range(img.shape[2])])

    def _pyramid(self, channel: np.ndarray) -> list[_Scale]:
        a, out = self.ops.plane(channel), []
        for level in range(len(SCALE_WEIGHTS)):
            if level:  # piq's rule: both sides padded when either is odd
                a = self.ops.average_2x2(a, max(a.shape[-2] % 2, a.shape[-1] % 2))
            mu = self.ops.filt(a, _WINDOW)
            out.append((a, mu, self.ops.filt(a * a, _WINDOW) - mu * mu))
        return out

    def score(self, sr_features: list[list[_Scale]], hr_features: list[list[_Scale]]) -> float:
        return float(np.mean(parallel_map(lambda pair: self._channel(*pair), list(zip(sr_features, hr_features)))))

    def _channel(self, xs: list[_Scale], ys: list[_Scale]) -> float:
        """One channel's MS-SSIM: the product of the clamped per-scale terms to their weights."""
        value = 1.0
        for level, ((x, mu_x, var_x), (y, mu_y, var_y), weight) in enumerate(zip(xs, ys, SCALE_WEIGHTS)):
            cov = self.ops.filt(x * y, _WINDOW) - mu_x * mu_y
            cs = (2 * cov + _C2) / (var_x + var_y + _C2)
            if level == len(SCALE_WEIGHTS) - 1:
                cs = (2 * mu_x * mu_y + _C1) / (mu_x * mu_x + mu_y * mu_y + _C1) * cs
            value *= max(float(cs.mean()), 0.0) ** weight
        return value


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``ms_ssim``."""
    reg.register(
        "ms_ssim",
        lambda device="cpu": MSSSIM(device),
        MetricInfo(
            kind="fr",
            higher_is_better=True,
            value_range=(0.0, 1.0),
            colour="rgb per channel (grey as is)",
            crop="scale",
            description="MS-SSIM (Wang 2003), 5 scales, Gaussian 11/1.5, K 0.01/0.03, needs min side >= 161 "
                        "(piq's conventions, float64)",
            devices=("cpu", "cuda"),
            precision="float64",
        ),
    )

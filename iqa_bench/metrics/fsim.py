"""FSIM and FSIMc, the feature similarity index (Zhang, Zhang, Mou & Zhang 2011); higher is better, on [0, 1].

Conventions, those of piq's ``fsim`` (from the authors' MATLAB code): images on 0..255, averaged in
``k x k`` blocks with ``k = max(1, round(min(H, W) / 256))`` (no padding: a remainder is dropped); an
RGB image in full-range YIQ (``Y = 0.299 R + 0.587 G + 0.114 B``, ``I = 0.5959 R - 0.2746 G - 0.3213 B``,
``Q = 0.2115 R - 0.5227 G + 0.3112 B``), a grey image used as it is; the luma's phase congruency (piq's
own functions: log-Gabor filters at 4 scales x 4 orientations, minimum wavelength 6, factor 2,
sigma_f 0.55, delta_theta 1.2, noise k = 2) and Scharr gradient magnitude; similarities with
``T1 = 0.85`` (phase congruency) and ``T2 = 160`` (gradient), pooled with the larger phase congruency as
the weight. ``fsimc`` also multiplies by ``|S_I S_Q|^0.03`` (``T3 = T4 = 200``); a grey image has no
chroma and gets its luma-only score. Float32.

Written here around piq's building blocks instead of calling ``piq.fsim`` (whose value it equals,
tested): the engine scores every model's output against the same HR image, so the HR image's phase
congruency, gradient map and chroma are computed once (``FSIM.reference``), and the log-Gabor filters
once for the HR image and its outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from iqa_bench.data.colour import yiq_torch
from iqa_bench.metrics._torch import FeatureMetric, as_tensor, gradient_kernels, ieee_fp32, resolve_device
from iqa_bench.metrics.base import YIQ_COLOUR, MetricInfo
from iqa_bench.registry import Registry

T1, T2, T3, T4, LAMBDA = 0.85, 160.0, 200.0, 200.0, 0.03


class FSIM(FeatureMetric):
    """``metric(sr, hr) -> float`` on ``(H, W, C)`` float images on [0, 1], C = 1 or 3."""

    def __init__(self, chromatic: bool, device: str | None = "cpu") -> None:
        self.name = "fsimc" if chromatic else "fsim"
        self.chromatic = chromatic
        self.device = resolve_device(device)
        self.kernels = gradient_kernels("scharr", self.device)
        self._filters: tuple[tuple[int, int], Any] = ((0, 0), None)  # the last size's only: 16 maps of its size

    def features(self, img: np.ndarray) -> tuple[Any, Any, Any | None]:
        """The (block-averaged) luma's phase congruency and gradient magnitude, and for ``fsimc`` on RGB
        the I and Q channels; 0..255 units, float32."""
        import torch.nn.functional as F
        from piq.fsim import _construct_filters, _phase_congruency
        from piq.functional import gradient_map

        x = as_tensor(img, device=self.device) * 255
        x = F.avg_pool2d(x, max(1, round(min(x.shape[-2:]) / 256)))
        yiq = yiq_torch(x) if x.shape[1] == 3 else x
        y = yiq[:, :1]
        size = (y.shape[-2], y.shape[-1])
        if self._filters[0] != size:  # they depend on the size only; an SR image has its HR image's
            self._filters = size, _construct_filters(y)
        with ieee_fp32():
            pc = _phase_congruency(y, filters=self._filters[1])
            grad = gradient_map(y, self.kernels)
        return pc, grad, yiq[:, 1:] if self.chromatic and yiq.shape[1] == 3 else None

    def score(self, sr_features: tuple[Any, Any, Any | None], hr_features: tuple[Any, Any, Any | None]) -> float:
        import torch

        (pc, grad, iq), (pc_ref, grad_ref, iq_ref) = sr_features, hr_features
        weight = torch.maximum(pc, pc_ref)
        sim = _similarity(pc, pc_ref, T1) * _similarity(grad, grad_ref, T2) * weight
        if iq is not None:
            s_i = _similarity(iq[:, :1], iq_ref[:, :1], T3)
            s_q = _similarity(iq[:, 1:], iq_ref[:, 1:], T4)
            sim = sim * torch.abs(s_i * s_q) ** LAMBDA
        return float(sim.sum() / weight.sum())


def _similarity(a: Any, b: Any, c: float) -> Any:
    return (2 * a * b + c) / (a**2 + b**2 + c)


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``fsim`` (luma only) and ``fsimc`` (chromatic)."""
    for name, chromatic, colour, what in (
        ("fsim", False, YIQ_COLOUR + "; luma only", "FSIM (Zhang 2011), luma only"),
        ("fsimc", True, "yiq (Y, I and Q); grey: luma only", "FSIMc (Zhang 2011), chromatic"),
    ):
        reg.register(
            name,
            lambda device="cpu", chromatic=chromatic: FSIM(chromatic, device),
            MetricInfo(
                kind="fr",
                higher_is_better=True,
                value_range=(0.0, 1.0),
                colour=colour,
                crop="scale",
                description=f"{what}, 4 scales x 4 orientations, built-in avg-pool by round(min(H,W)/256) "
                            "(piq's conventions and phase congruency, float32)",
                devices=("cpu", "cuda"),
                precision="float32",
            ),
        )

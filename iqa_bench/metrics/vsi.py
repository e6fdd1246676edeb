"""VSI, the visual-saliency-induced index (Zhang, Shen & Li 2014); higher is better, on [0, 1].

Conventions, those of piq's ``vsi`` (from the authors' MATLAB code): images on 0..255, a grey image
copied to three channels; SDSP saliency (piq's own function: a 256x256 bilinear copy in CIELAB,
log-Gabor band-pass, centre and warm-colour priors) of each image; the images in LMN colour space;
saliency and LMN averaged in ``k x k`` blocks with ``k = max(1, round(min(H, W) / 256))`` (replicate
padding ``k // 2`` before and ``(k - 1) // 2`` after); the L channel's Scharr gradient magnitude;
similarities with ``C1 = 1.27`` (saliency), ``C2 = 386`` (gradient), ``C3 = 130`` (M and N
chroma), ``alpha = 0.4``, ``beta = 0.02``, pooled with the larger saliency as the weight. Float32.

Written here around piq's building blocks instead of calling ``piq.vsi`` (whose value it equals,
tested): the engine scores every model's output against the same HR image, so the HR image's
saliency, chroma and gradient maps are computed once (``VSI.reference``). The saliency is piq's
``sdsp`` step for step, with its image-independent maps (the 256x256 log-Gabor filter and centre
prior, which ``sdsp`` rebuilds on every call) made once (:class:`_Saliency`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from iqa_bench.metrics._torch import FeatureMetric, as_tensor, gradient_kernels, ieee_fp32, resolve_device
from iqa_bench.metrics.base import MetricInfo
from iqa_bench.registry import Registry

C1, C2, C3, ALPHA, BETA = 1.27, 386.0, 130.0, 0.4, 0.02


class VSI(FeatureMetric):
    """``metric(sr, hr) -> float`` on ``(H, W, C)`` float images on [0, 1], C = 1 or 3."""

    name = "vsi"

    def __init__(self, device: str | None = "cpu") -> None:
        self.device = resolve_device(device)
        self.kernels = gradient_kernels("scharr", self.device)
        self.saliency = _Saliency(self.device)

    def features(self, img: np.ndarray) -> tuple[Any, Any, Any]:
        """The block-averaged saliency map, M and N chroma (``(1, 2, h, w)``) and L gradient magnitude."""
        import torch.nn.functional as F
        from piq.functional import gradient_map, rgb2lmn

        x = as_tensor(img, rgb=True, device=self.device) * 255
        with ieee_fp32():
            vs, lmn = self.saliency(x), rgb2lmn(x)
            k = max(1, round(min(vs.shape[-2:]) / 256))
            if k // 2:
                pads = [k // 2, (k - 1) // 2] * 2
                vs, lmn = F.pad(vs, pads, mode="replicate"), F.pad(lmn, pads, mode="replicate")
            vs, lmn = F.avg_pool2d(vs, k), F.avg_pool2d(lmn, k)
            return vs, lmn[:, 1:], gradient_map(lmn[:, :1], self.kernels)

    def score(self, sr_features: tuple[Any, Any, Any], hr_features: tuple[Any, Any, Any]) -> float:
        import torch
        from piq.functional import similarity_map

        (vs, mn, gm), (vs_ref, mn_ref, gm_ref) = sr_features, hr_features
        s_c = similarity_map(mn[:, :1], mn_ref[:, :1], C3) * similarity_map(mn[:, 1:], mn_ref[:, 1:], C3)
        # the real part of the complex power s_c ** beta (s_c can be negative), as the authors compute it
        s_c = s_c.abs() ** BETA * torch.cos(torch.atan2(torch.zeros_like(s_c), s_c) * BETA)
        s = similarity_map(vs, vs_ref, C1) * similarity_map(gm, gm_ref, C2).pow(ALPHA) * s_c
        weight = torch.max(vs, vs_ref)
        eps = torch.finfo(weight.dtype).eps
        return float(((s * weight).sum() + eps) / (weight.sum() + eps))


class _Saliency:
    """SDSP saliency (Zhang, Gong & Zhang 2013) of ``(N, 3, H, W)`` RGB on 0..255, as piq's ``sdsp``
    computes it with its defaults (omega_0 0.021, sigma_f 1.34, sigma_d 145, sigma_c 0.001), the
    log-Gabor filter and centre prior on the 256x256 working grid made once."""

    SIZE, OMEGA_0, SIGMA_F, SIGMA_D, SIGMA_C = (256, 256), 0.021, 1.34, 145.0, 0.001

    def __init__(self, device: Any) -> None:
        import torch
        from piq.functional import get_meshgrid
        from piq.vsi import _log_gabor

        xx, yy = get_meshgrid(self.SIZE, device=device, dtype=torch.float32)
        self.log_gabor = _log_gabor(xx, yy, self.OMEGA_0, self.SIGMA_F).view(1, 1, *self.SIZE)
        coordinates = torch.stack([xx, yy], dim=0) * self.SIZE[0] + 1
        self.centre = torch.exp(-torch.sum(coordinates**2, dim=0) / self.SIGMA_D**2).view(1, 1, *self.SIZE)

    def __call__(self, x: Any) -> Any:
        import torch
        from piq.functional import rgb2lab
        from torch.nn.functional import interpolate

        size = x.size()
        x = x / 255.0 * 255  # piq's rescaling from its data range, kept: float32 rounding makes it no identity
        lab = rgb2lab(interpolate(x, size=self.SIZE, mode="bilinear", align_corners=False), data_range=255)
        s_f = torch.fft.ifft2(torch.fft.fft2(lab) * self.log_gabor).real.pow(2).sum(dim=1, keepdim=True).sqrt()
        eps = torch.finfo(lab.dtype).eps
        low = lab.min(dim=-1, keepdim=True).values.min(dim=-2, keepdim=True).values
        high = lab.max(dim=-1, keepdim=True).values.max(dim=-2, keepdim=True).values
        chroma = ((lab - low) / (high - low + eps))[:, 1:].pow(2).sum(dim=1, keepdim=True)
        warm = 1 - torch.exp(-chroma / self.SIGMA_C**2)
        vs = interpolate(s_f * self.centre * warm, size[-2:], mode="bilinear", align_corners=True)
        low = vs.min(dim=-1, keepdim=True).values.min(dim=-2, keepdim=True).values
        high = vs.max(dim=-1, keepdim=True).values.max(dim=-2, keepdim=True).values
        return (vs - low) / (high - low + eps)


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``vsi``."""
    reg.register(
        "vsi",
        lambda device="cpu": VSI(device),
        MetricInfo(
            kind="fr",
            higher_is_better=True,
            value_range=(0.0, 1.0),
            colour="rgb -> LMN/Lab (authors' MATLAB); grey copied to RGB",
            crop="scale",
            description="VSI (Zhang 2014), SDSP saliency, built-in avg-pool by round(min(H,W)/256) "
                        "(piq's conventions and saliency, float32)",
            devices=("cpu", "cuda"),
            precision="float32",
        ),
    )

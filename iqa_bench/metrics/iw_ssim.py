"""IW-SSIM, information-weighted SSIM (Wang & Li 2011); higher is better, 1 for equal images.

Conventions, those of piq's ``information_weighted_ssim`` (from the authors' MATLAB ``iwssim.m``): images
on 0..255, an RGB image reduced to its full-range YIQ luma (0.299 R + 0.587 G + 0.114 B), a grey image
used as it is; a 5-level Laplacian pyramid (binomial 5-tap filter, reflect padding); per level the SSIM
contrast-structure map (the full SSIM map at the coarsest) with a Gaussian window 11x11, sigma 1.5,
K1 = 0.01, K2 = 0.03, pooled with the information-content weights of a 3x3 Gaussian scale mixture
(sigma_n^2 = 0.4, the parent band included at the three finest levels); the levels combined with
MS-SSIM's weights. Float32 (piq's precision). Sides of at least 161 pixels.

Written here around piq's pyramid and filters instead of calling the piq function (whose value it
equals, tested): the engine scores every model's output against the same HR image, and most of
IW-SSIM's work is the reference's alone (its pyramid, local statistics and the eigen-decomposed
covariance of its 3x3 neighbourhoods and parent), made once per HR image here (``IWSSIM.reference``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from iqa_bench.metrics._torch import FeatureMetric, as_tensor, ieee_fp32, resolve_device
from iqa_bench.metrics.base import YIQ_COLOUR, MetricInfo
from iqa_bench.registry import Registry

SCALE_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
K1, K2, SIGMA_NSQ, BLOCK = 0.01, 0.03, 0.4, 3
MIN_SIDE = 161
_IW_CROP = 5 - (BLOCK - 1) // 2  # the SSIM map is 'valid' for the 11-tap window; the weights are cropped to it


@dataclass
class _Level:
    """One pyramid level of the reference: its band, SSIM statistics and (but for the coarsest) the
    reference-only terms of the information content."""

    band: Any
    mu: Any  # 11x11 Gaussian mean
    var: Any  # its variance, clamped at 0
    mu3: Any = None  # 3x3 box mean (zero padding 1 before, 2 after, as piq)
    var3: Any = None
    ss: Any = None  # the neighbourhood's Mahalanobis energy under the reference covariance
    eig: Any = None  # that covariance's eigenvalues, negative ones zeroed and rescaled


class IWSSIM(FeatureMetric):
    """``metric(sr, hr) -> float`` on ``(H, W, C)`` float images on [0, 1], sides >= 161."""

    name = "iw_ssim"
    min_side = MIN_SIDE

    def __init__(self, device: str | None = "cpu") -> None:
        import torch
        from piq.functional import average_filter2d, binomial_filter1d, gaussian_filter

        self.device = resolve_device(device)
        self.gauss = gaussian_filter(11, 1.5, device=self.device, dtype=torch.float32)[None]
        self.box = average_filter2d(BLOCK, device=self.device, dtype=torch.float32)[None]
        self.binomial = binomial_filter1d(5, device=self.device, dtype=torch.float32) * 2**0.5
        w = torch.tensor(SCALE_WEIGHTS, dtype=torch.float32, device=self.device)
        self.weights = w / w.sum()

    def features(self, img: np.ndarray) -> list[Any]:
        """The Laplacian bands of the luma on 0..255, finest first (the last is the low-pass residual)."""
        from piq.functional import rgb2yiq
        from piq.iw_ssim import _pyr_step

        x = as_tensor(img, device=self.device) * 255
        with ieee_fp32():
            if x.shape[1] == 3:
                x = rgb2yiq(x)[:, :1]
            bands = []
            for _ in range(len(SCALE_WEIGHTS) - 1):
                x, band = _pyr_step(x, self.binomial)
                bands.append(band)
            return bands + [x]

    def reference(self, hr: np.ndarray) -> tuple[tuple[int, ...], Any]:
        """The HR image's shape and its per-level :class:`_Level` terms."""
        import torch

        shape, bands = super().reference(hr)
        with torch.inference_mode(), ieee_fp32():
            levels = []
            for i, band in enumerate(bands):
                mu, var = self._stats(band, self.gauss, 0)
                level = _Level(band, mu, var)
                if i < len(bands) - 1:
                    level.mu3, level.var3 = self._stats(band, self.box, 1)
                    parent = bands[i + 1] if i < len(bands) - 2 else None  # the three finest levels
                    level.ss, level.eig = self._reference_information(band, parent)
                levels.append(level)
        return shape, levels

    def score(self, sr_bands: list[Any], levels: list[_Level]) -> float:
        import torch

        with ieee_fp32():
            pooled = []
            for i, (x, ref) in enumerate(zip(sr_bands, levels)):
                mu_x, var_x = self._stats(x, self.gauss, 0)
                cov = self._filter(x * ref.band, self.gauss, 0) - mu_x * ref.mu
                cs = (2 * cov + (K2 * 255) ** 2) / (var_x + ref.var + (K2 * 255) ** 2)
                if i == len(levels) - 1:  # the coarsest level: the full SSIM map, every weight 1
                    c1 = (K1 * 255) ** 2
                    ssim_map = (2 * mu_x * ref.mu + c1) / (mu_x**2 + ref.mu**2 + c1) * cs
                    pooled.append(ssim_map.sum(dim=(-2, -1)) / ssim_map[0, 0].numel())
                else:
                    iw = self._information(x, ref)[:, :, _IW_CROP:-_IW_CROP, _IW_CROP:-_IW_CROP]
                    pooled.append((cs * iw).sum(dim=(-2, -1)) / iw.sum(dim=(-2, -1)))
            wmcs = torch.stack(pooled).abs()
            return float(torch.prod(wmcs ** self.weights.view(-1, 1, 1), dim=0)[0, 0])

    # -- the pieces, each as piq computes it ------------------------------------------------------
    @staticmethod
    def _filter(x: Any, kernel: Any, pad: int) -> Any:
        """``kernel`` over ``x``: 'valid' (``pad`` 0) or zero-padded ``pad`` before and ``pad + 1`` after."""
        import torch.nn.functional as F

        return F.conv2d(F.pad(x, [pad, pad + 1, pad, pad + 1]) if pad else x, kernel)

    def _stats(self, x: Any, kernel: Any, pad: int) -> tuple[Any, Any]:
        """Local mean and variance (clamped at 0) under ``kernel``."""
        import torch

        mu = self._filter(x, kernel, pad)
        return mu, torch.relu(self._filter(x * x, kernel, pad) - mu * mu)

    @staticmethod
    def _reference_information(y: Any, parent: Any | None) -> tuple[Any, Any]:
        """The reference-only terms of piq's ``_information_content``: the Mahalanobis energy ``ss`` of
        each 3x3 neighbourhood (plus the parent band's sample) under their covariance, made positive
        semi-definite with its trace kept, and that covariance's eigenvalues."""
        import torch
        from piq.iw_ssim import _image_enlarge, _shift

        rows, cols = y.shape[-2] - BLOCK + 1, y.shape[-1] - BLOCK + 1
        r = (BLOCK - 1) // 2
        samples = [_shift(y, [dy, dx])[..., r:r + rows, r:r + cols].flatten(-2)
                   for dy in range(-r, r + 1) for dx in range(-r, r + 1)]
        if parent is not None:
            up = _image_enlarge(parent)[:, :, :y.shape[-2], :y.shape[-1]]
            samples.append(up[..., r:r + rows, r:r + cols].flatten(-2))
        big_y = torch.stack(samples, dim=-1)  # (1, 1, rows * cols, N)
        n = big_y.shape[-1]
        cov = big_y.transpose(-2, -1) @ big_y / big_y.shape[-2]
        eig, vec = torch.linalg.eigh(cov)
        total = eig.sum(dim=-1).view(1, 1, 1, 1)
        kept = torch.diag_embed(eig * (eig > 0))
        kept_total = kept.sum(dim=(-2, -1), keepdim=True)
        scaled = kept * total / (kept_total + (kept_total == 0))
        cov = vec @ scaled @ vec.transpose(-2, -1)
        ss = ((big_y @ torch.inverse(cov)) * big_y / n).sum(dim=-1, keepdim=True).view(1, 1, rows, cols)
        return ss, torch.diagonal(scaled, dim1=-2, dim2=-1).unsqueeze(2).unsqueeze(3)

    def _information(self, x: Any, ref: _Level) -> Any:
        """The information-content weight map of piq's ``_information_content`` (uncropped)."""
        import torch

        eps = torch.finfo(x.dtype).eps
        mu_x, var_x = self._stats(x, self.box, 1)
        cov = self._filter(x * ref.band, self.box, 1) - mu_x * ref.mu3
        g = cov / (ref.var3 + eps)
        vv = var_x - g * cov
        flat_y = ref.var3 < eps
        g = g.masked_fill(flat_y, 0)
        vv = torch.where(flat_y, var_x, vv)
        flat_x = var_x < eps
        g, vv = g.masked_fill(flat_x, 0), vv.masked_fill(flat_x, 0)
        r = (BLOCK - 1) // 2
        rows, cols = ref.ss.shape[-2:]
        g, vv = g[:, :, r:r + rows, r:r + cols].unsqueeze(-1), vv[:, :, r:r + rows, r:r + cols].unsqueeze(-1)
        iw = torch.log2(1 + ((vv + (1 + g * g) * SIGMA_NSQ) * ref.ss.unsqueeze(-1) * ref.eig + SIGMA_NSQ * vv)
                        / (SIGMA_NSQ * SIGMA_NSQ)).sum(dim=-1)
        return iw.masked_fill(iw < eps, 0)


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``iw_ssim``."""
    reg.register(
        "iw_ssim",
        lambda device="cpu": IWSSIM(device),
        MetricInfo(
            kind="fr",
            higher_is_better=True,
            value_range=(0.0, 1.0),
            colour=YIQ_COLOUR,
            crop="scale",
            description="IW-SSIM (Wang & Li 2011), 5 scales, parent band on (piq's conventions, float32)",
            devices=("cpu", "cuda"),
            precision="float32",
        ),
    )
